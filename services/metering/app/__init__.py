"""Metering use cases: they take ports (app/ports.py), never adapters."""

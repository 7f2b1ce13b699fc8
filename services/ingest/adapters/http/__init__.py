"""Ingest's HTTP API: external usage as CloudEvents, health, dead letters for operators."""

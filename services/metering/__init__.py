"""Metering: price books, rated usage and invoices (schema metering)."""

"""Exports: invoices as JSON / CSV and as FinOps FOCUS rows."""

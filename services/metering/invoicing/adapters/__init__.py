"""Invoicing: PostgreSQL, HTTP and the other edges."""

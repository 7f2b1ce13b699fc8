"""Exports: PostgreSQL, HTTP and the other edges."""

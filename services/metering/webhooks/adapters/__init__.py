"""Webhooks: PostgreSQL, HTTP and the other edges."""

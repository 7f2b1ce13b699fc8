"""Chargeback: PostgreSQL, HTTP and the other edges."""

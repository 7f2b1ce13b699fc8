"""Budgets: PostgreSQL, HTTP and the other edges."""

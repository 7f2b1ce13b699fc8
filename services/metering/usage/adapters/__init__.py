"""Usage: PostgreSQL, HTTP and the other edges."""

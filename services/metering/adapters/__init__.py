"""Metering adapters: bus consumers, the PostgreSQL store, the invoice publisher, migrations."""

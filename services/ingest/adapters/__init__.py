"""Ingest's adapters: NATS consumers, the PostgreSQL store, the HTTP API, migrations."""

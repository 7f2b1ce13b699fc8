"""Ingest use cases over ports (a transactional store, a clock); adapters supply PostgreSQL and NATS."""

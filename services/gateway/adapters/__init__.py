"""The gateway's edges: HTTP, PostgreSQL, NATS consumers, migrations."""

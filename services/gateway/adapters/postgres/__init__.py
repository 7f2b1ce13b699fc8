"""PostgreSQL implementation of the gateway's store port."""

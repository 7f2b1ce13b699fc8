"""Ingest: validates, deduplicates and enriches usage (agent samples, external usage over HTTP)."""

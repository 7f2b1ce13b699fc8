"""Pure ingest rules: validation, CloudEvent parsing, enrichment lookup. No I/O, no clock, no framework."""

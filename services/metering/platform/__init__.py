"""What metering's features share at their edges: the outbox port, how refused input leaves the bus, the internal HTTP app."""

"""Gateway use cases; they work through the ports in app.ports."""

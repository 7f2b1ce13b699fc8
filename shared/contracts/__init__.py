"""Typed models of the services' internal HTTP APIs, shared by each API's server and its clients."""

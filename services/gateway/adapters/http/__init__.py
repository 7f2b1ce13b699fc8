"""The FastAPI edge: routers, problem+json handlers, authentication dependencies."""

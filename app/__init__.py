"""The FastAPI extraction service: routes, batching, registry (see docs/service.md)."""

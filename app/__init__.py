"""The FastAPI extraction service and fine-tune worker (issues 4 and 5; not built yet)."""

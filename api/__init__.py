"""socialrec HTTP API (FastAPI): recommendations, reach, campaigns."""

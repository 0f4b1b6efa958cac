"""Reader module 'geoparquet' (not written yet)."""

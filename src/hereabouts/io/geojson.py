"""Reader module 'geojson' (not written yet)."""

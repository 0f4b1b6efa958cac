"""Reader module 'geolife' (not written yet)."""

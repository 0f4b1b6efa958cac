"""Reader module 'kml' (not written yet)."""

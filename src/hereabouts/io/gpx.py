"""Reader module 'gpx' (not written yet)."""

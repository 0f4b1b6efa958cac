"""Reader module 'google_records' (not written yet)."""

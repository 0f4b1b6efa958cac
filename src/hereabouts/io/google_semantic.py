"""Reader module 'google_semantic' (not written yet)."""

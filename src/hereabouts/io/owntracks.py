"""Reader module 'owntracks' (not written yet)."""

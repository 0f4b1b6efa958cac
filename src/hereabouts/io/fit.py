"""Reader module 'fit' (not written yet)."""

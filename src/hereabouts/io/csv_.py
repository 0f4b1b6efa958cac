"""Reader module 'csv_' (not written yet)."""

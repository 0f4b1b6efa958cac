"""Reader module 'tcx' (not written yet)."""

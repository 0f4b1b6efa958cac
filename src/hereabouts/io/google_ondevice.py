"""Reader module 'google_ondevice' (not written yet)."""

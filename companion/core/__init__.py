"""The headless engine of companion. Imports no UI code (checked by a test)."""

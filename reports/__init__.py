"""Reports and the release gate (not built yet)."""

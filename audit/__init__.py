"""Audit of a synthetic dataset: utility, membership inference, reconstruction, PII (not built yet)."""

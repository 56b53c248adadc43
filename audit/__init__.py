"""The audit of a synthetic dataset: utility, membership inference, reconstruction, PII and the
decoder's privacy, as plug-ins run by ``Auditor`` (``smotext.audit.auditor``)."""

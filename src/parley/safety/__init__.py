"""Safety: detectors over text (prompt injection and jailbreaks), pure functions plus the small models they ship.

The chat engine calls them at two points only: before the provider and on the output stream (ARCHITECTURE.md).
Ingestion calls the injection detector on every document chunk.
"""

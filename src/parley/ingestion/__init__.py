"""Uploaded files into retrievable chunks: extraction, chunking, injection flags, and the `ingest_file` job."""

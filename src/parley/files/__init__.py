"""Files: uploads (type decided by content, size limited per plan, archive bombs refused), listing, download
and deletion. Bytes live in `parley.storage`; text extraction runs as the `ingest_file` job."""

# The storage twins (local files, S3 against moto) and their server, for the export's storage-layer test.
from tests.storage.conftest import s3_bucket, s3_endpoint, storage

__all__ = ["s3_bucket", "s3_endpoint", "storage"]

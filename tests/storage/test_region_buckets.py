"""Multi-region storage: a deployment writes its uploads to its own region's bucket, sealed with its region's KMS
key (SSE-KMS), against a real S3-API server (moto) with two buckets and a KMS key."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from parley.config import Settings
from parley.storage import open_storage
from parley.storage.s3 import S3Storage
from tests.storage.conftest import S3_KEY_ID, S3_SECRET, s3_settings


def _aws(service: str, endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEY_ID,
        aws_secret_access_key=S3_SECRET,
    )


async def test_uploads_go_to_the_bucket_of_the_deployments_region_under_its_kms_key(s3_endpoint: str, tmp_path: Path):
    s3 = _aws("s3", s3_endpoint)
    buckets = {region: f"parley-{region}-{uuid.uuid4().hex[:6]}" for region in ("eu-west-1", "us-east-1")}
    for bucket in buckets.values():
        s3.create_bucket(Bucket=bucket)
    eu_key = _aws("kms", s3_endpoint).create_key(Description="parley eu")["KeyMetadata"]["KeyId"]
    base = s3_settings(s3_endpoint, bucket="unused-default").model_copy(
        update={"bucket": None, "buckets": buckets, "kms_key_ids": {"eu-west-1": eu_key}}
    )

    storage = await open_storage(Settings(data_dir=tmp_path, region="eu-west-1", s3=base))
    try:
        assert isinstance(storage, S3Storage) and storage.bucket == buckets["eu-west-1"]
        await storage.put("uploads/contract", b"signed in Dublin", content_type="text/plain")
    finally:
        await storage.aclose()

    stored = s3.head_object(Bucket=buckets["eu-west-1"], Key="parley/uploads/contract")
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert eu_key in stored["SSEKMSKeyId"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=buckets["us-east-1"], Key="parley/uploads/contract")

    # The us deployment (no KMS key listed for it) writes to its own bucket with the bucket's default encryption.
    storage = await open_storage(Settings(data_dir=tmp_path, region="us-east-1", s3=base))
    try:
        await storage.put("uploads/memo", b"signed in Virginia", content_type="text/plain")
    finally:
        await storage.aclose()
    memo = s3.head_object(Bucket=buckets["us-east-1"], Key="parley/uploads/memo")
    assert memo.get("ServerSideEncryption") != "aws:kms"

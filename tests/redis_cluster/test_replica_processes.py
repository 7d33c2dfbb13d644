"""Three real `parley serve` processes behind nginx on a Redis Cluster (`PARLEY_REDIS_CLUSTER=true` in their
environment): the tests of tests/replicas, unchanged. Limits hold across replicas, uploads are read once, an
answer started on one replica resumes through nginx on the others with Last-Event-ID, a SIGTERM'd replica drains
and hands its answers over, and killing the replica writing 20 answers loses none of them."""

from __future__ import annotations

import pytest

from tests.replicas import test_replicas
from tests.replicas.conftest import cluster, replicas_database_url, running_cluster  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def redis_url(redis_cluster_url: str) -> str:
    """The replicas' REDIS_URL: a node of the cluster."""
    return redis_cluster_url


@pytest.fixture(scope="module")
def replica_environment() -> dict[str, str]:
    return {"PARLEY_REDIS_CLUSTER": "true"}


class TestLimitsAcrossReplicas(test_replicas.TestLimitsAcrossReplicas):
    pass


class TestJobsRunOnce(test_replicas.TestJobsRunOnce):
    pass


class TestResumeAnywhere(test_replicas.TestResumeAnywhere):
    pass


class TestDrainOnSigterm(test_replicas.TestDrainOnSigterm):
    pass


class TestHandOver(test_replicas.TestHandOver):
    pass

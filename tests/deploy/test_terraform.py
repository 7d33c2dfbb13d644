"""deploy/terraform/aws, checked offline.

`terraform validate` needs the aws, helm and random providers, which `terraform init` downloads from the
Terraform registry, which this machine cannot reach (and no registry package here ships them); so the module is
parsed with python-hcl2 and its wiring checked: every reference resolves, the managed services are private and
encrypted, and the values it hands the Helm chart are keys the chart has and render a valid release.
`terraform fmt -check` runs too where a terraform binary is installed.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from typing import Any

import hcl2
import pytest
import yaml

from tests.deploy.conftest import DEPLOY
from tests.deploy.test_helm import one, render

MODULE = DEPLOY / "terraform" / "aws"
SECRET_VALUES = {
    "database.url",
    "database.readUrl",
    "redis.url",
    "rabbitmq.url",
    "auth.jwtSecret",
    "auth.adminPassword",
}


def unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def _parsed() -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for key, blocks in hcl2.loads(path.read_text()).items():
            if not key.startswith("__"):
                merged.setdefault(key, []).extend(blocks)
    return merged


def _resources() -> dict[str, dict[str, Any]]:
    """`type.name` -> the resource's body."""
    found: dict[str, dict[str, Any]] = {}
    for block in _parsed()["resource"]:
        for kind, named in block.items():
            for name, body in named.items():
                found[f"{unquote(kind)}.{unquote(name)}"] = body
    return found


def _names(section: str) -> set[str]:
    return {unquote(name) for block in _parsed().get(section, []) for name in block}


def _source() -> str:
    return "\n".join(path.read_text() for path in sorted(MODULE.glob("*.tf")))


class TestModule:
    def test_every_reference_resolves(self) -> None:
        text = re.sub(r"(?m)^\s*#.*$", "", _source())
        variables = _names("variable")
        assert set(re.findall(r"\bvar\.([a-z_0-9]+)", text)) == variables  # used, and declared
        locals_ = {key for block in _parsed()["locals"] for key in block if not key.startswith("__")}
        assert set(re.findall(r"\blocal\.([a-z_0-9]+)", text)) <= locals_
        resources = set(_resources())
        data = {
            f"{unquote(kind)}.{unquote(name)}"
            for block in _parsed()["data"]
            for kind, named in block.items()
            for name in named
        }
        for reference in re.findall(r"\bdata\.([a-z0-9_]+\.[a-z0-9_]+)", text):
            assert reference in data, reference
        for reference in re.findall(r"(?<![.\w])((?:aws|random|helm)_[a-z0-9_]+\.[a-z0-9_]+)", text):
            assert reference in resources, reference

    def test_variables_are_documented_and_the_example_sets_the_required_ones(self) -> None:
        required = set()
        for block in _parsed()["variable"]:
            for name, body in block.items():
                assert unquote(body.get("description")), name
                assert "type" in body, name
                if "default" not in body:
                    required.add(unquote(name))
        assert required == {"region", "availability_zones", "image_repository", "image_tag", "hostname", "admin_email"}
        example = hcl2.loads((MODULE / "example.tfvars").read_text())
        assert required <= {key for key in example if not key.startswith("__")} <= _names("variable")

    def test_outputs(self) -> None:
        outputs = {unquote(name): body for block in _parsed()["output"] for name, body in block.items()}
        assert {
            "cluster_name",
            "database_endpoint",
            "redis_endpoint",
            "rabbitmq_endpoint",
            "files_bucket",
            "kms_key_arn",
            "url",
        } <= set(outputs)
        assert outputs["admin_password"]["sensitive"] is True

    @pytest.mark.skipif(shutil.which("terraform") is None, reason="no terraform binary on this machine")
    def test_terraform_fmt_accepts_it(self) -> None:
        terraform = shutil.which("terraform")
        assert terraform is not None
        result = subprocess.run([terraform, "fmt", "-check", "-diff", str(MODULE)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


class TestServices:
    def test_postgresql_16_private_encrypted_tls_only(self) -> None:
        resources = _resources()
        database = resources["aws_db_instance.this"]
        assert unquote(database["engine"]) == "postgres" and unquote(database["engine_version"]).startswith("16")
        assert database["storage_encrypted"] is True and database["kms_key_id"] == "${aws_kms_key.this.arn}"
        assert database["publicly_accessible"] is False and database["deletion_protection"] is True
        parameters = resources["aws_db_parameter_group.this"]
        assert unquote(parameters["family"]) == "postgres16"
        assert {unquote(p["name"]): unquote(p["value"]) for p in parameters["parameter"]}["rds.force_ssl"] == "1"

    def test_redis_rabbitmq_and_bucket(self) -> None:
        resources = _resources()
        redis = resources["aws_elasticache_replication_group.this"]
        assert redis["transit_encryption_enabled"] is True and redis["at_rest_encryption_enabled"] is True
        assert redis["automatic_failover_enabled"] is True
        broker = resources["aws_mq_broker.this"]
        assert unquote(broker["engine_type"]) == "RabbitMQ" and broker["publicly_accessible"] is False
        encryption = resources["aws_s3_bucket_server_side_encryption_configuration.files"]["rule"][0]
        default = encryption["apply_server_side_encryption_by_default"][0]
        assert (
            unquote(default["sse_algorithm"]) == "aws:kms" and default["kms_master_key_id"] == "${aws_kms_key.this.arn}"
        )
        block = resources["aws_s3_bucket_public_access_block.files"]
        assert all(
            block[key] is True
            for key in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
        )
        assert resources["aws_kms_key.this"]["enable_key_rotation"] is True

    def test_pods_reach_s3_through_their_service_account_role(self) -> None:
        resources = _resources()
        association = resources["aws_eks_pod_identity_association.parley"]
        assert association["service_account"] == "${local.service_account}"
        assert association["namespace"] == "${var.namespace}"
        assert "pods.eks.amazonaws.com" in _source()


class TestChartWiring:
    def _release(self) -> dict[str, Any]:
        return _resources()["helm_release.parley"]

    def test_the_chart_path_is_the_repositorys_chart(self) -> None:
        locals_ = next(block for block in _parsed()["locals"] if "chart_path" in block)
        default = re.search(r'"\$\{path\.module\}(/[^"]+)"', locals_["chart_path"])
        assert default is not None
        chart = (MODULE / default.group(1).lstrip("/")).resolve()
        assert chart == (DEPLOY / "helm" / "parley").resolve()
        assert (chart / "Chart.yaml").is_file()
        assert self._release()["chart"] == "${local.chart_path}"

    def test_every_value_set_is_a_key_of_the_chart_and_secrets_stay_sensitive(self) -> None:
        chart_values = yaml.safe_load((DEPLOY / "helm" / "parley" / "values.yaml").read_text())
        release = self._release()
        plain = {unquote(item["name"]) for item in release["set"]}
        sensitive = {unquote(item["name"]) for item in release["set_sensitive"]}
        assert sensitive == SECRET_VALUES
        assert not plain & SECRET_VALUES
        for name in plain | sensitive:
            node: Any = chart_values
            for part in name.split("."):
                assert isinstance(node, dict) and part in node, f"{name} is not a value of the chart"
                node = node[part]

    def test_the_values_terraform_sets_render_a_valid_release(self) -> None:
        """The release as Terraform installs it (its expressions replaced by values of the right shape)."""
        release = self._release()
        stand_ins = {
            "database.url": "postgresql://parley:pw@parley.abc.eu-west-1.rds.amazonaws.com:5432/parley",
            "database.readUrl": "",
            "redis.url": "rediss://:token@master.parley.abc.euw1.cache.amazonaws.com:6379/0",
            "rabbitmq.url": "amqps://parley:pw@b-1.mq.eu-west-1.amazonaws.com:5671",
            "auth.jwtSecret": "j" * 64,
            "auth.adminPassword": "a" * 24,
            "image.repository": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/parley",
            "image.tag": "0.1.0",
            "serviceAccount.name": "parley",
            "s3.bucket": "parley-files-123",
            "s3.region": "eu-west-1",
            "crypto.provider": "aws-kms",
            "crypto.kmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/0b7c2b1e-6a4f-4d8e-9a8e-2f1d3c4b5a69",
            "auth.adminEmail": "admin@example.com",
            "ingress.enabled": True,
            "ingress.className": "nginx",
            "ingress.host": "chat.example.com",
            "ingress.tls.secretName": "parley-tls",
            "autoscaling.minReplicas": 2,
            "autoscaling.maxReplicas": 20,
            "autoscaling.activeStreamsPerPod": 40,
        }
        names = {unquote(item["name"]) for item in [*release["set"], *release["set_sensitive"]]}
        assert names == set(stand_ins)
        values: dict[str, Any] = {}
        for name, value in stand_ins.items():
            node = values
            *parents, leaf = name.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        documents = render(values)
        account = one(documents, "ServiceAccount")["metadata"]["name"]
        assert (
            account
            == "parley"
            == unquote(next(b for b in _parsed()["locals"] if "service_account" in b)["service_account"])
        )
        assert one(documents, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account
        assert one(documents, "Ingress")["spec"]["rules"][0]["host"] == "chat.example.com"

"""deploy/helm/parley rendered by Helm's own template engine (Helm v4's Go SDK through helm-python-sdk: no `helm`
binary installs from a registry here) and every manifest validated against the Kubernetes schemas of the oldest
and a newer supported version (kubernetes-validate, strict: unknown fields are errors)."""

from __future__ import annotations

import os
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from parley.config import Settings
from parley.health.endpoints import router as health_router
from tests.deploy.conftest import DEPLOY
from tests.deploy.test_prometheus import exported_metrics

CHART = DEPLOY / "helm" / "parley"
# Chart.yaml's kubeVersion floor, and a newer release.
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
JWT = "k" * 48
# PARLEY_CRYPTO__KEYS as `parley keys generate` prints it (a fixed test key).
CRYPTO_KEYS = "k2026=" + "AQ" * 21 + "E="
BASE: dict[str, Any] = {
    "database": {"url": "postgresql://parley:pw@db.internal:5432/parley"},
    "redis": {"url": "rediss://cache.internal:6379/0"},
    "auth": {"jwtSecret": JWT, "adminEmail": "admin@example.com"},
    "crypto": {"keys": CRYPTO_KEYS},
}
EVERYTHING: dict[str, Any] = {
    **BASE,
    "redis": {**BASE["redis"], "cluster": True},
    "rabbitmq": {"url": "amqps://parley:pw@mq.internal:5671/"},
    "s3": {"bucket": "parley-files", "region": "eu-west-1"},
    "ingress": {"enabled": True, "host": "chat.example.com"},
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True, "labels": {"release": "kps"}}},
    "networkPolicy": {"enabled": True},
    "config": {
        "models": "models:\n  - name: gpt\n    provider: openai\n",
        "plans": "plans: []\n",
        "cdnUrl": "https://cdn.example.com",
    },
    "secrets": {"extra": {"OPENAI_API_KEY": "sk-test"}},
}
EXTERNAL: dict[str, Any] = {
    "externalSecrets": {
        "enabled": True,
        "secretStoreRef": {"name": "aws-secrets"},
        "data": {
            "DATABASE_URL": {"key": "prod/parley", "property": "database_url"},
            "REDIS_URL": {"key": "prod/parley", "property": "redis_url"},
            "PARLEY_AUTH__JWT_SECRET": {"key": "prod/parley", "property": "jwt_secret"},
            "PARLEY_CRYPTO__KEYS": {"key": "prod/parley", "property": "crypto_keys"},
        },
    },
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """The chart's manifests for `values`, as `helm template parley deploy/helm/parley -n chat` makes them."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        files = chart.render(values, name="parley", namespace="chat", is_install=True)
    documents = []
    for name, text in files.items():
        if name.endswith(".txt"):
            continue
        documents.extend(document for document in yaml.safe_load_all(text) if document)
    return documents


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {[d['metadata']['name'] for d in found]}"
    return found[0]


class TestChart:
    def test_helm_lint_is_clean(self) -> None:
        for values in (BASE, EVERYTHING, EXTERNAL):
            report = helm.lint(str(CHART), values, strict=True, kube_version="v1.29.0")
            assert report["errors"] == []
            assert [m for m in report["messages"] if m["severity"] >= 2] == []

    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    @pytest.mark.parametrize("values", [BASE, EVERYTHING, EXTERNAL], ids=["minimal", "everything", "external-secrets"])
    def test_every_manifest_is_valid_kubernetes(self, values: dict[str, Any], version: str) -> None:
        documents = render(values)
        kinds = set()
        for document in documents:
            kinds.add(document["kind"])
            if document["apiVersion"].startswith(("monitoring.coreos.com/", "external-secrets.io/")):
                continue  # custom resources: no schema in Kubernetes; checked in the tests below
            kubernetes_validate.validate(document, version, strict=True)
        assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Job"} <= kinds

    def test_schema_refuses_bad_values(self) -> None:
        with helm.Chart.load(str(CHART)) as chart:
            for bad in ({"replicaCount": 0}, {"auth": {"jwtSecret": "short"}}, {"redis": {"url": "http://x"}}):
                with pytest.raises(helm.HelmValuesError):
                    chart.validate_schema({**BASE, **bad})
            with pytest.raises(helm.HelmValuesError, match="additional properties 'replicas' not allowed"):
                chart.validate_schema({**BASE, "replicas": 3})

    def test_missing_required_service_urls_fail_with_the_reason(self) -> None:
        with pytest.raises(helm.HelmError, match=r"redis\.url is required"):
            render({"database": BASE["database"], "auth": BASE["auth"]})
        with pytest.raises(helm.HelmError, match=r"database\.url is required"):
            render({"redis": BASE["redis"], "auth": BASE["auth"]})

    def test_the_key_encryption_keys_are_required_with_the_local_provider(self) -> None:
        """A pod's data dir is an emptyDir: a key file generated there would be lost with the pod."""
        without = {key: value for key, value in BASE.items() if key != "crypto"}
        with pytest.raises(helm.HelmError, match=r"crypto\.keys is required"):
            render(without)
        with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError):
            chart.validate_schema({**BASE, "crypto": {"keys": "k2026=short"}})
        documents = render({**without, "crypto": {"provider": "aws-kms", "kmsKeyId": "alias/parley-eu"}})
        config = one(documents, "ConfigMap", "parley")["data"]
        assert config["PARLEY_CRYPTO__PROVIDER"] == "aws-kms"
        assert config["PARLEY_CRYPTO__KMS_KEY_ID"] == "alias/parley-eu"
        assert "PARLEY_CRYPTO__KEYS" not in one(documents, "Secret", "parley")["stringData"]


class TestDeployment:
    def test_probes_point_at_the_apps_health_routes(self) -> None:
        container = one(render(BASE), "Deployment")["spec"]["template"]["spec"]["containers"][0]
        routes = {route.path for route in health_router.routes}  # type: ignore[attr-defined]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz" in routes
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" in routes
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["args"][:5] == ["serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104
        assert {"name": "http", "containerPort": 8000, "protocol": "TCP"} in container["ports"]
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]

    def test_termination_outlasts_the_drain_and_presleep(self) -> None:
        """SIGKILL comes only after preStop's sleep, Parley's drain of running answers and its shutdown."""
        documents = render(
            {
                **BASE,
                "drain": {
                    "preStopSeconds": 15,
                    "drainTimeoutSeconds": 120,
                    "shutdownTimeoutSeconds": 30,
                    "marginSeconds": 10,
                },
            }
        )
        pod = one(documents, "Deployment")["spec"]["template"]["spec"]
        config = one(documents, "ConfigMap", "parley")["data"]
        assert config["PARLEY_DRAIN_TIMEOUT_SECONDS"] == "120" and config["PARLEY_SHUTDOWN_TIMEOUT_SECONDS"] == "30"
        assert pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "15"]
        assert pod["terminationGracePeriodSeconds"] == 15 + 120 + 30 + 10
        strategy = one(documents, "Deployment")["spec"]["strategy"]["rollingUpdate"]
        assert strategy["maxUnavailable"] == 0

    def test_runs_as_non_root_on_a_read_only_root(self) -> None:
        documents = render(BASE)
        for pod in (
            one(documents, "Deployment")["spec"]["template"]["spec"],
            one(documents, "Job")["spec"]["template"]["spec"],
        ):
            assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] >= 1000
            container = pod["containers"][0]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
            # What Parley writes goes to volumes: the data dir and /tmp.
            mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
            assert {"/var/lib/parley", "/tmp"} <= mounts  # noqa: S108

    def test_the_pods_environment_is_the_settings_parley_reads(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The ConfigMap and Secret the pods load (envFrom), given to the real Settings, land in the fields they
        are meant for."""
        documents = render(EVERYTHING)
        container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        sources = {next(iter(ref)): ref[next(iter(ref))]["name"] for ref in container["envFrom"]}
        environment = {
            **one(documents, "ConfigMap", sources["configMapRef"])["data"],
            **one(documents, "Secret", sources["secretRef"])["stringData"],
        }
        for key in [key for key in os.environ if key.startswith("PARLEY_")]:
            monkeypatch.delenv(key)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        models = one(documents, "ConfigMap", "parley-files")["data"]["models.yaml"]
        assert "provider: openai" in models
        monkeypatch.setenv("PARLEY_MODELS", "/dev/null")  # the mounted file; its path is checked below
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        assert environment["PARLEY_MODELS"] == "/etc/parley/models.yaml"
        assert settings.database_url == "postgresql+asyncpg://parley:pw@db.internal:5432/parley"
        assert settings.redis_url == "rediss://cache.internal:6379/0" and settings.redis_cluster
        assert settings.rabbitmq_url == "amqps://parley:pw@mq.internal:5671/"
        assert settings.s3.bucket == "parley-files" and settings.s3.region == "eu-west-1"
        assert settings.auth.jwt_secret is not None and settings.auth.jwt_secret.get_secret_value() == JWT
        assert settings.crypto.provider == "local" and settings.crypto.keys is not None
        assert settings.crypto.keys.get_secret_value() == CRYPTO_KEYS
        assert settings.host == "0.0.0.0" and settings.port == 8000  # noqa: S104
        assert settings.metrics.port == 9464
        assert settings.web.cdn_url == "https://cdn.example.com"
        assert settings.environment == "production" and settings.admin_email == "admin@example.com"
        assert environment["OPENAI_API_KEY"] == "sk-test"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["files"] == "/etc/parley"

    def test_a_changed_secret_rolls_the_pods(self) -> None:
        before = one(render(BASE), "Deployment")["spec"]["template"]["metadata"]["annotations"]
        after = one(render({**BASE, "auth": {**BASE["auth"], "jwtSecret": "z" * 48}}), "Deployment")["spec"][
            "template"
        ]["metadata"]["annotations"]
        assert before["checksum/secret"] != after["checksum/secret"]
        assert before["checksum/config"] == after["checksum/config"]


class TestScaling:
    def test_hpa_scales_on_cpu_and_active_streams_per_pod(self) -> None:
        hpa = one(render(BASE), "HorizontalPodAutoscaler")["spec"]
        assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "parley"}
        by_type = {metric["type"]: metric for metric in hpa["metrics"]}
        assert by_type["Resource"]["resource"]["name"] == "cpu"
        pods = by_type["Pods"]["pods"]
        assert pods["metric"]["name"] == "parley_active_streams" in exported_metrics()
        assert pods["target"] == {"type": "AverageValue", "averageValue": "40"}
        assert hpa["minReplicas"] >= 2

    def test_without_autoscaling_the_replica_count_is_fixed(self) -> None:
        documents = render({**BASE, "autoscaling": {"enabled": False}, "replicaCount": 3})
        assert one(documents, "Deployment")["spec"]["replicas"] == 3
        assert not [d for d in documents if d["kind"] == "HorizontalPodAutoscaler"]

    def test_disruption_budget_takes_one_pod_at_a_time(self) -> None:
        documents = render(BASE)
        pdb = one(documents, "PodDisruptionBudget")["spec"]
        assert pdb["maxUnavailable"] == 1
        assert pdb["selector"]["matchLabels"] == one(documents, "Deployment")["spec"]["selector"]["matchLabels"]


class TestMigrations:
    def test_migrate_runs_as_a_hook_before_install_and_upgrade(self) -> None:
        documents = render(BASE)
        job = one(documents, "Job")
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["migrate"]
        assert container["image"] == one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
        # Its DATABASE_URL comes from a hook Secret made before it (the release's own Secret does not exist yet
        # on a first install).
        reference = container["env"][0]["valueFrom"]["secretKeyRef"]
        secret = one(documents, "Secret", reference["name"])
        assert secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(annotations["helm.sh/hook-weight"])
        assert secret["stringData"][reference["key"]] == BASE["database"]["url"]

    def test_with_an_existing_secret_the_chart_makes_none(self) -> None:
        documents = render({"secrets": {"existingSecret": "parley-prod"}})
        assert not [d for d in documents if d["kind"] == "Secret"]
        container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        assert {"secretRef": {"name": "parley-prod"}} in container["envFrom"]
        job = one(documents, "Job")["spec"]["template"]["spec"]["containers"][0]
        assert job["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "parley-prod"

    def test_external_secrets_fill_the_pods_and_the_hooks_secrets(self) -> None:
        documents = render(EXTERNAL)
        assert not [d for d in documents if d["kind"] == "Secret"]
        main = one(documents, "ExternalSecret", "parley")
        assert main["apiVersion"] == "external-secrets.io/v1"
        assert main["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets"}
        assert {item["secretKey"] for item in main["spec"]["data"]} == set(EXTERNAL["externalSecrets"]["data"])
        assert main["spec"]["target"]["name"] == "parley"
        hook = one(documents, "ExternalSecret", "parley-migrate")
        assert hook["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert [item["secretKey"] for item in hook["spec"]["data"]] == ["DATABASE_URL"]
        job = one(documents, "Job")["spec"]["template"]["spec"]["containers"][0]
        assert job["env"][0]["valueFrom"]["secretKeyRef"]["name"] == hook["spec"]["target"]["name"]


class TestTraffic:
    def test_ingress_terminates_tls_and_streams_unbuffered(self) -> None:
        documents = render(EVERYTHING)
        ingress = one(documents, "Ingress")
        assert ingress["spec"]["tls"] == [{"hosts": ["chat.example.com"], "secretName": "parley-tls"}]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
        assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        service = one(documents, "Service")
        assert backend["name"] == service["metadata"]["name"]
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}

    def test_service_monitor_scrapes_the_metrics_port(self) -> None:
        documents = render(EVERYTHING)
        monitor = one(documents, "ServiceMonitor")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        endpoint = monitor["spec"]["endpoints"][0]
        assert endpoint["path"] == "/metrics"
        service = one(documents, "Service")
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "metrics", "containerPort": 9464, "protocol": "TCP"} in container["ports"]
        assert one(documents, "ConfigMap", "parley")["data"]["PARLEY_METRICS__PORT"] == "9464"
        assert not [d for d in render(BASE) if d["kind"] == "ServiceMonitor"]

    def test_network_policy_admits_the_ingress_controller_and_monitoring_only(self) -> None:
        documents = render(EVERYTHING)
        policy = one(documents, "NetworkPolicy")["spec"]
        assert policy["podSelector"]["matchLabels"] == one(documents, "Deployment")["spec"]["selector"]["matchLabels"]
        rules = {rule["ports"][0]["port"]: rule["from"][0]["namespaceSelector"] for rule in policy["ingress"]}
        assert rules == {
            "http": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
            "metrics": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        }
        assert not [d for d in render(BASE) if d["kind"] == "NetworkPolicy"]

    def test_prometheus_rule_carries_the_tested_alert_rules(self) -> None:
        """The PrometheusRule holds exactly deploy/prometheus/alerts.yaml (the rules promtool unit-tests)."""
        rule = one(render(EVERYTHING), "PrometheusRule")
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        assert rule["metadata"]["labels"]["release"] == "kps"
        alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
        assert rule["spec"]["groups"] == alerts["groups"]
        assert (CHART / "files" / "alerts.yaml").resolve() == (DEPLOY / "prometheus" / "alerts.yaml").resolve()
        assert not [d for d in render(BASE) if d["kind"] == "PrometheusRule"]

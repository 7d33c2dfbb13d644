"""deploy/prometheus/alerts.yaml and deploy/grafana/parley.json against Debian's promtool and against the metrics
Parley really exports (parley.metrics.instruments): a renamed metric breaks these tests, not a silent alert."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY, require_tool

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
DASHBOARD = DEPLOY / "grafana" / "parley.json"
_METRIC = re.compile(r"\b(parley_[a-z0-9_]+|up)\b")


def exported_metrics() -> set[str]:
    """Every sample name Parley's instruments can expose (a counter `x` as `x_total`, a histogram as its
    `_bucket`, `_count` and `_sum`)."""
    from prometheus_client import REGISTRY

    import parley.metrics.instruments  # noqa: F401  (registers them)

    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("parley_"):
            continue
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(family.name)
    return names


def _rules() -> Iterator[dict[str, Any]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        yield from group["rules"]


def _dashboard_targets() -> Iterator[tuple[str, str]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(json.loads(DASHBOARD.read_text())["panels"])


class TestAlertRules:
    def test_promtool_accepts_the_rules(self) -> None:
        promtool = require_tool("promtool")
        result = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_promtool_accepts_the_compose_prometheus_config_and_its_rules(self) -> None:
        promtool = require_tool("promtool")
        config = DEPLOY / "prometheus" / "prometheus.yml"
        result = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 1 rule files found" in result.stdout

    def test_the_rules_unit_tests_pass(self) -> None:
        """alerts_test.yaml: a 5 % error rate pages within minutes, 0.05 % never; 0.3 % for days opens a
        ticket; an instance down, slow p99 and TTFT, an open circuit, old jobs, the first quota exhaustion, a
        sign-in failure burst and a refresh-token reuse each fire, and their harmless look-alikes do not."""
        promtool = require_tool("promtool")
        result = subprocess.run(
            [promtool, "test", "rules", "alerts_test.yaml"],
            cwd=ALERTS.parent,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout + result.stderr

    def test_every_alert_of_the_issue_is_there(self) -> None:
        alerts = {rule["alert"] for rule in _rules() if "alert" in rule}
        assert {
            "ParleyErrorBudgetBurnFast",
            "ParleyErrorBudgetBurnSlow",
            "ParleyHighLatencyP99",
            "ParleyTimeToFirstTokenHigh",
            "ParleyInstanceDown",
            "ParleyProviderCircuitOpen",
            "ParleyJobOldestAge",
            "ParleyJobBacklog",
            "ParleyQuotaExhausted",
            "ParleySignInFailureBurst",
            "ParleyRefreshTokenReuse",
        } <= alerts
        for rule in _rules():
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"] and rule["annotations"]["description"]

    def test_rules_use_only_metrics_parley_exports(self) -> None:
        recorded = {rule["record"] for rule in _rules() if "record" in rule}
        known = exported_metrics() | {"up"}
        for rule in _rules():
            for name in _METRIC.findall(rule["expr"]):
                assert name in known or name in recorded, f"{rule.get('alert') or rule.get('record')}: {name}"


class TestDashboard:
    def test_is_a_grafana_dashboard(self) -> None:
        dashboard = json.loads(DASHBOARD.read_text())
        assert dashboard["uid"] == "parley-overview" and dashboard["title"] == "Parley"
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids))
        variables = {variable["name"] for variable in dashboard["templating"]["list"]}
        assert {"datasource", "model", "region"} <= variables
        titles = " ".join(title for title, _ in _dashboard_targets()).lower()
        for topic in ("requests", "5xx", "latency", "first token", "tokens", "cost", "active streams", "provider"):
            assert topic in titles, topic
        for topic in ("circuit", "jobs", "database pool", "limit refusals", "sign-ins"):
            assert topic in titles, topic

    def test_every_query_uses_only_metrics_parley_exports(self) -> None:
        known = exported_metrics()
        for title, expr in _dashboard_targets():
            names = _METRIC.findall(expr)
            assert names, title
            for name in names:
                assert name in known, f"{title}: {name}"

    def test_every_query_is_valid_promql(self, tmp_path: Path) -> None:
        """Each panel's query (Grafana's variables filled in) as a recording rule, checked by promtool."""
        promtool = require_tool("promtool")
        rules = [
            {
                "record": f"dashboard:query_{index}",
                "expr": expr.replace("$__rate_interval", "5m").replace("$model", ".*").replace("$region", ".*"),
            }
            for index, (_, expr) in enumerate(_dashboard_targets())
        ]
        path = tmp_path / "dashboard_rules.yaml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"SUCCESS: {len(rules)} rules found" in result.stdout

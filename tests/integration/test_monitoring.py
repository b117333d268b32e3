"""The monitoring kit is true to the apps: the Grafana dashboard parses, and every metric its
panels and the Prometheus alert rules use is exported by a running site and a running registry
(scraped from their /metrics). The rules are checked, and their alerts exercised on synthetic
series, by `promtool` when it is installed (Debian's `prometheus` package; scripts/test installs
it); without it they are parsed here and that half is skipped (it fails under CI=true).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from registry.app import create_registry_app
from registry.settings import RegistrySettings
from tests.conftest import REPO
from tests.integration.conftest import SiteClient, photo

pytestmark = [pytest.mark.model]

DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "gerbang.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
NAME = re.compile(r"\bgerbang_[a-z0-9_]+")


def _dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def _rule_expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def _exported(text: str) -> dict[str, str]:
    """name -> type of every metric family a /metrics page declares."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))


def _missing(names: set[str], exported: dict[str, str]) -> set[str]:
    """The names (as used in PromQL) that no exported family provides."""
    missing = set()
    for name in names:
        if exported.get(name) in ("gauge", "counter"):  # a counter's family is named NAME_total
            continue
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base == name or exported.get(base) != "histogram":
            missing.add(name)
    return missing


@pytest.fixture(scope="module")
def registry_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The /metrics page of a real registry app (its embedded SQLite backend)."""
    db = tmp_path_factory.mktemp("registry") / "registry.db"
    settings = RegistrySettings(database_url=f"sqlite:///{db}")
    with TestClient(create_registry_app(settings)) as client:
        client.get("/v1/health")
        response = client.get("/metrics")
        assert response.status_code == 200, response.text
        yield response.text


@pytest.fixture(scope="module")
def site_metrics(site_client: SiteClient, dev_faces: Path) -> str:
    """The /metrics page of a real site after one gate decision."""
    client = site_client.client
    gate = {"id": "main", "name": "Pintu utama", "directions": ["in", "out"], "roles": ["visitor"]}
    made = client.post("/v1/gates", json=gate, headers=site_client.as_role("site_admin"))
    assert made.status_code == 201, made.text
    decided = client.post(
        "/v1/gates/main/visitor-entry",
        files={"image": photo(dev_faces, "deepface-img8/4.jpg")},
        data={"nik": "3201014703850001"},
        headers=site_client.as_role("device"),
    )
    assert decided.status_code == 200, decided.text
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_every_metric_the_dashboard_and_the_alerts_use_is_exported(
    site_metrics: str, registry_metrics: str
) -> None:
    used = {
        n for expr in _dashboard_expressions() + _rule_expressions() for n in NAME.findall(expr)
    }
    assert len(used) >= 15
    exported = _exported(site_metrics) | _exported(registry_metrics)
    assert not _missing(used, exported), _missing(used, exported)
    assert _missing({"gerbang_no_such_metric"}, exported)  # the check bites


def test_a_gate_decision_shows_in_the_decision_metrics(site_metrics: str) -> None:
    decided = re.findall(r'^gerbang_gate_decisions_total\{passage="visitor_entry",result="(\w+)"\} 1\.0$',
                         site_metrics, re.MULTILINE)  # fmt: skip
    assert decided and decided[0] in ("admit", "deny", "alarm")
    assert re.search(r'^gerbang_gate_decision_seconds_count\{kind="visitor_entry"\} 1\.0$', site_metrics, re.MULTILINE)  # fmt: skip
    assert "gerbang_model_ready 1.0" in site_metrics
    assert "gerbang_outbox_pending " in site_metrics


def test_every_metric_is_documented_in_the_readme(site_metrics: str, registry_metrics: str) -> None:
    section = (REPO / "README.md").read_text().split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    exported = _exported(site_metrics) | _exported(registry_metrics)
    ours = {n for n in exported if n.startswith("gerbang_") and not n.endswith("_created")}
    assert not {n for n in ours if f"`{n}" not in section}


def test_prometheus_is_wired_to_the_rules_and_every_target() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"registry", "site-a", "site-b"}
    assert all(job["scheme"] == "https" and job["tls_config"]["ca_file"] for job in jobs.values())
    names = {rule["alert"] for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]}  # fmt: skip
    assert {"SiteSilent", "OutboxGrowing", "AlarmUncleared", "ModelNotReady"} <= names


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def test_promtool_accepts_the_rules_and_each_alert_fires_when_it_should() -> None:
    promtool = _promtool()
    for args in (["check", "rules", ALERTS.name], ["test", "rules", ALERT_TESTS.name]):
        done = subprocess.run([promtool, *args], check=False, capture_output=True, text=True,
                              cwd=ALERTS.parent)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

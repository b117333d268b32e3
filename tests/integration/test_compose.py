"""compose.yaml cannot be run here (no container engine), so what can be checked is checked: it
parses, its services are the README's, every variable it sets is a real setting, its commands
are the ones the README runs, and its one-shot setup script runs outside containers, twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from edge.settings import Settings
from registry.settings import RegistrySettings
from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())
README = (REPO / "README.md").read_text()
SERVICES = COMPOSE["services"]
LONG_RUNNING = ("postgres", "registry", "site-a", "site-b", "prometheus", "grafana")


def _is_field(model: type[BaseModel], name: str, prefix: str) -> bool:
    """Whether PREFIX_A__B names the field a.b of the settings model."""
    parts = name.removeprefix(prefix).lower().split("__")
    current: Any = model
    for part in parts:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return False
        if part not in current.model_fields:
            return False
        current = current.model_fields[part].annotation
        current = next((a for a in getattr(current, "__args__", ()) if a), current)
    return True


def test_the_services_are_the_ones_the_readme_names_with_health_checks_and_volumes() -> None:
    assert set(SERVICES) == {
        "postgres", "init", "registry", "site-a", "site-b", "prometheus", "grafana"
    }  # fmt: skip
    section = README[README.index("## Compose") :]
    for name in SERVICES:
        assert f"`{name}`" in section, f"the README's Compose section does not name {name}"
    for name in LONG_RUNNING:
        assert SERVICES[name]["healthcheck"]["test"], name
    used = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", [])}
    assert set(COMPOSE["volumes"]) <= used
    mounted = {v.split(":")[0] for v in used if v.startswith("./")}
    assert all((REPO / path).exists() for path in mounted), mounted  # deploy/ files exist


def test_every_variable_the_services_set_is_a_real_setting() -> None:
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            if variable.startswith("EDGE_"):
                assert _is_field(Settings, variable, "EDGE_"), (name, variable)
            elif variable.startswith("REGISTRY_") and variable != "REGISTRY_TLS_DIR":
                assert _is_field(RegistrySettings, variable, "REGISTRY_"), (name, variable)
    assert _is_field(RegistrySettings, "REGISTRY_TLS_DIR", "REGISTRY_")
    assert not _is_field(Settings, "EDGE_SYNC__REGISTRY_ADDRESS", "EDGE_")  # the check bites


def test_every_dollar_variable_is_in_env_example() -> None:
    text = (REPO / "compose.yaml").read_text()
    wanted = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = (REPO / ".env.example").read_text()
    given = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert wanted <= given, wanted - given


def test_the_commands_are_the_readmes() -> None:
    registry = " ".join(SERVICES["registry"]["command"])
    assert registry.startswith(".venv/bin/gerbang registry serve")
    assert "gerbang registry serve --port 8090" in README
    for site in ("site-a", "site-b"):
        assert " ".join(SERVICES[site]["command"]) == ".venv/bin/gerbang serve"
        assert SERVICES[site]["environment"]["EDGE_SYNC__REGISTRY_URL"].startswith("https://")
    assert "docker compose up" in README and "deploy/init.sh" in README
    for target in {s["build"]["target"] for s in SERVICES.values() if "build" in s}:
        assert f" AS {target}" in (REPO / "Dockerfile").read_text()


def test_the_setup_script_runs_outside_containers_and_again_changes_nothing(
    tmp_path: Path,
) -> None:
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path}/registry.db",
        "REGISTRY_TLS_DIR": str(tmp_path / "registry-tls"),
        "SITES": f"UPT-A:{tmp_path}/a UPT-B:{tmp_path}/b",
        "SITE_HOSTS": "site-a site-b",
        "MONITORING_CA_DIR": str(tmp_path / "monitoring-ca"),
    }
    script = REPO / "deploy" / "init.sh"
    subprocess.run(["sh", str(script)], env=environment, check=True, cwd=tmp_path)
    made = {p: p.read_bytes() for p in tmp_path.rglob("*.pem")}
    for folder in ("registry-tls", "a/tls", "b/tls"):
        assert (tmp_path / folder / "ca.pem").is_file() and (
            tmp_path / folder / "server.pem"
        ).is_file()
    assert (tmp_path / "a/keys/site_ed25519.pem").is_file()
    for name, source in (("registry", "registry-tls"), ("UPT-A", "a/tls"), ("UPT-B", "b/tls")):
        copied = tmp_path / "monitoring-ca" / f"{name}.pem"  # what Prometheus checks each against
        assert copied.read_bytes() == (tmp_path / source / "ca.pem").read_bytes()
    assert not [p for p in (tmp_path / "monitoring-ca").iterdir() if "PRIVATE KEY" in p.read_text()]
    subprocess.run(["sh", str(script)], env=environment, check=True, cwd=tmp_path)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.pem")} == made
    report = subprocess.run(
        ["gerbang", "registry", "report", "--json"],
        env=environment,
        check=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    ).stdout
    assert "UPT-A" in report and "UPT-B" in report


@pytest.mark.parametrize("name", ["site-a", "site-b"])
def test_sites_trust_only_the_registrys_own_ca(name: str) -> None:
    environment = SERVICES[name]["environment"]
    assert environment["EDGE_SYNC__REGISTRY_CA_FILE"] == "/registry-tls/ca.pem"
    assert "registry-tls:/registry-tls:ro" in SERVICES[name]["volumes"]

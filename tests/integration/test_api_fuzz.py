"""No input makes either service answer a server error (issue 13): schemathesis generates
requests from each app's own OpenAPI document, valid and invalid alike (positive and negative
generation modes), sends them with an
officer's token (the site's site_admin, the registry's central_admin) and fails on any 5xx.

Bounded for CI: GERBANG_FUZZ_EXAMPLES examples per operation (default 8), derandomized so a run
is repeatable; sign-out is left out (it would end the token the rest uses).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from registry.app import create_registry_app
from registry.service import RegistryService
from registry.settings import RegistrySettings
from tests.integration import test_registry as base
from tests.integration.conftest import PASSWORD, SiteClient, make_site_client

EXAMPLES = int(os.environ.get("GERBANG_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
database_url = base.database_url  # PostgreSQL: the backend whose refusals used to be 500s


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def site_api(site_client: SiteClient) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", site_client.client.app)
    return schema.exclude(path="/v1/auth/logout")


@pytest.fixture(scope="module")
def registry_app(
    database_url: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str]]]:
    # With its face models, as a real registry runs: photos posted to the watchlist are embedded.
    settings_ = RegistrySettings(
        database_url=database_url,
        model_dir=model_dir,
        model_cache_dir=tmp_path_factory.mktemp("registry-models"),
    )
    service = RegistryService(settings_)
    app = create_registry_app(settings_, service)
    with TestClient(app) as client:
        service.add_account("fuzz-admin", "central_admin", PASSWORD, None)
        token = client.post(
            "/v1/auth/login", json={"username": "fuzz-admin", "password": PASSWORD}
        ).json()["token"]
        yield app, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def registry_api(registry_app: tuple[Any, dict[str, str]]) -> Any:
    schema = schemathesis.openapi.from_asgi("/openapi.json", registry_app[0])
    return schema.exclude(path="/v1/auth/logout")


def _fuzz(schema: Any, headers: dict[str, str]) -> tuple[list[str], Counter[int]]:
    """Every operation, EXAMPLES generated cases each: (what answered a server error and how,
    the statuses seen)."""
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for found, mode in product(schema.get_all_operations(), GenerationMode):
        operation = found.ok()

        @FUZZ
        @given(case=operation.as_strategy(mode))
        def call(case: Any) -> None:
            response = case.call(headers=headers)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error])

        try:
            call()
        except Unsatisfiable:  # nothing invalid to send: an operation without inputs
            continue
        except Exception as exc:  # a check failure, reported with the case that caused it
            failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
    return failures, statuses


def test_the_site_never_answers_a_server_error(site_api: Any, site_client: SiteClient) -> None:
    failures, statuses = _fuzz(site_api, site_client.as_role("site_admin"))
    assert failures == []
    assert statuses[200] and sum(statuses.values()) >= len(list(site_api.get_all_operations()))


def test_the_registry_never_answers_a_server_error(
    registry_api: Any, registry_app: tuple[Any, dict[str, str]]
) -> None:
    failures, statuses = _fuzz(registry_api, registry_app[1])
    assert failures == []
    assert statuses[200] and sum(statuses.values()) >= len(list(registry_api.get_all_operations()))


def test_a_server_error_is_caught(
    registry_api: Any, registry_app: tuple[Any, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The harness can fail: a use case that breaks on every call is reported."""

    def failing() -> None:
        raise RuntimeError("deliberately broken")

    monkeypatch.setattr(registry_app[0].state.service, "health", failing)
    failures, _ = _fuzz(registry_api.include(path="/v1/health"), {})
    assert failures and "/v1/health" in failures[0]

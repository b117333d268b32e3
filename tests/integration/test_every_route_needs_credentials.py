"""Walk the app's own published API: every /v1 operation but sign-in refuses a caller with no
credentials, and every permission a route asks for exists in the one PERMISSIONS table."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import edge.routes as routes_package
from edge.app import create_app
from edge.security import PERMISSIONS
from edge.settings import Settings

PUBLIC = {"/v1/auth/login"}
ROLES = {"enrolment_officer", "gate_officer", "supervisor", "site_admin", "device"}


def _v1_operations(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every /v1 operation in the published OpenAPI document."""
    paths = app.openapi()["paths"]
    return [
        (m.upper(), p)
        for p, ops in paths.items()
        if p.startswith("/v1") and p not in PUBLIC
        for m in ops
    ]


def test_no_v1_operation_answers_an_anonymous_caller(tmp_path: Path) -> None:
    app = create_app(Settings(model_dir=tmp_path / "no-models", data_dir=tmp_path))
    operations = _v1_operations(app)
    assert len(operations) > 30  # the walk saw the whole API, not an empty table
    with TestClient(app) as client:
        for method, template in operations:
            response = client.request(method, re.sub(r"\{[^}]+\}", "1", template))
            # 422: validation ran before authentication, so no request body got further either.
            assert response.status_code in (401, 422), (method, template, response.status_code)


def _route_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"edge.routes.{m.name}")
        for m in pkgutil.iter_modules(routes_package.__path__)
    ]


def test_every_permission_a_route_asks_for_is_in_the_table() -> None:
    source = "\n".join(inspect.getsource(module) for module in _route_modules())
    named = set(re.findall(r'allow\("([a-z_.]+)"\)', source))
    assert len(named) > 10 and named <= set(PERMISSIONS), named - set(PERMISSIONS)


@pytest.mark.parametrize("permission", sorted(PERMISSIONS))
def test_each_permission_names_only_known_roles(permission: str) -> None:
    assert PERMISSIONS[permission] and PERMISSIONS[permission] <= ROLES

"""The registry's routes only parse, authorise and call a use case; its OpenAPI says what they answer.

Built on an SQLite file that is never migrated: describing the API touches no database.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends

from registry.accounts import PERMISSIONS, REGISTRY_ROLES, Officer
from registry.app import create_registry_app
from registry.routes import access
from registry.settings import RegistrySettings

ROUTES_DIR = Path(__file__).resolve().parents[2] / "registry" / "routes"
DATABASE_WORK = re.compile(r"\b(execute|executemany|transaction)\(")
PUBLIC = {"health", "login", "metrics"}  # answer without credentials
SITE_SIGNED = {"push_batch", "pull_changes", "national_search", "rotate_key", "recovery"}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("registry") / "registry.db"
    app = create_registry_app(RegistrySettings(database_url=f"sqlite:///{db}"))
    return app.openapi()


def _operations(openapi: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId -> (method, path, operation)."""
    return {
        op["operationId"]: (method.upper(), path, op)
        for path, ops in openapi["paths"].items()
        for method, op in ops.items()
    }


def test_no_route_module_runs_sql_or_opens_a_transaction() -> None:
    modules = sorted(ROUTES_DIR.glob("*.py"))
    assert len(modules) >= 8  # the walk saw the routes
    offending = [
        f"{module.name}:{number}: {line.strip()}"
        for module in modules
        for number, line in enumerate(module.read_text().splitlines(), 1)
        if DATABASE_WORK.search(line)
    ]
    assert offending == [], "route modules call use cases; SQL belongs to registry/*.py"


def test_the_database_work_pattern_catches_what_it_must() -> None:
    for line in ("with service.db.transaction() as tx:", "tx.execute('SELECT 1')"):
        assert DATABASE_WORK.search(line)
    assert not DATABASE_WORK.search("return service.transfer(body.identity_id, ...)")


def test_every_operation_declares_its_answer_and_its_errors(openapi: dict[str, Any]) -> None:
    operations = _operations(openapi)
    assert len(operations) >= 19 and "central_page" not in operations  # the page is not API
    for name, (method, path, op) in operations.items():
        success = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert success, (method, path)
        for status, response in success.items():
            if status == "204":  # no content: nothing to describe
                assert "content" not in response, (method, path)
                continue
            schemas = [c.get("schema") for c in response.get("content", {}).values()]
            assert schemas and all(schemas), (method, path, status)
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        if name != "health":  # liveness reads memory only: it has no error to give
            assert errors, (method, path)
        for status, response in errors.items():
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            assert response["description"].startswith("Codes: "), (method, path, status)
        if name not in PUBLIC | SITE_SIGNED:
            assert {"401", "403"} <= set(errors), (method, path)
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
        if name in SITE_SIGNED:
            assert "401" in errors, (method, path)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_every_officer_operation_has_its_permission_in_the_one_table(
    openapi: dict[str, Any],
) -> None:
    officer_operations = set(_operations(openapi)) - PUBLIC - SITE_SIGNED
    assert officer_operations == set(access.ROUTE_PERMISSIONS)
    assert set(access.ROUTE_PERMISSIONS.values()) <= set(PERMISSIONS)
    assert all(set(roles) <= set(REGISTRY_ROLES) for roles in PERMISSIONS.values())


def test_a_guarded_route_missing_from_the_table_stops_the_app_from_being_built() -> None:
    router = APIRouter()

    @router.get("/v1/unlisted")
    def unlisted(officer: Annotated[Officer, Depends(access.authorised)]) -> dict[str, str]:
        return {"who": officer.username}

    with pytest.raises(RuntimeError, match="unlisted"):
        access.check_policy([router])

"""Walk the site's published OpenAPI: every operation documents its answer and its refusals, and
real answers (successes and errors alike) fit the schema the document gives for their status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from edge.app import create_app
from edge.settings import Settings
from edge.site import Site
from enrollment.accounts import AccountStore

PUBLIC = {"/health", "/ready", "/metrics", "/v1/auth/login"}
NEVER_REFUSES = {"/health", "/metrics"}  # they answer whenever the process is up
PASSWORD = "correct horse battery"


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in document["paths"].items() for m, op in ops.items()]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def problems(
    document: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$"
) -> list[str]:
    """Where `value` does not fit `schema` (the JSON Schema subset pydantic publishes), plus any
    field the schema does not document."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        fits = [problems(document, s, value, at) for s in schema["anyOf"]]
        return [] if any(not f for f in fits) else [f"{at}: fits no alternative: {fits}"]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not in {schema['enum']}"]
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
             "integer": int, "number": (int, float)}  # fmt: skip
    wrong_type = kind is not None and not isinstance(value, types[kind])
    if wrong_type or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{at}: {value!r} is not {kind}"]
    found: list[str] = []
    if kind == "array":
        for i, item in enumerate(value):
            found += problems(document, schema.get("items", {}), item, f"{at}[{i}]")
    if kind == "object":
        properties = schema.get("properties", {})
        found += [f"{at}.{k}: missing" for k in schema.get("required", []) if k not in value]
        extra = schema.get("additionalProperties", not properties)
        for key, item in value.items():
            if key in properties:
                found += problems(document, properties[key], item, f"{at}.{key}")
            elif isinstance(extra, dict):
                found += problems(document, extra, item, f"{at}.{key}")
            elif extra is not True:
                found.append(f"{at}.{key}: not in the published schema")
    return found


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, Site]]:
    data = tmp_path_factory.mktemp("site")
    settings = Settings(model_dir=data / "no-models", data_dir=data)
    site = Site(settings)
    with site.db.transaction() as tx:
        AccountStore(tx).add_operator("admin", "Admin", "site_admin", PASSWORD)
    yield create_app(settings, site), site


def test_every_operation_documents_its_answer_and_its_refusals(app: tuple[FastAPI, Site]) -> None:
    document = app[0].openapi()
    walked = operations(document)
    assert len(walked) > 35
    for method, path, op in walked:
        statuses = op["responses"]
        success = [s for s in statuses if s.startswith("2")]
        assert success, (method, path)
        for status in success:
            if status == "204":
                continue  # no content, by definition
            content = statuses[status].get("content", {})
            schemas = [resolve(document, c.get("schema", {})) for c in content.values()]
            assert schemas and all(schemas), (method, path, status, "answer not documented")
        refusals = {s for s in statuses if s[0] in "45"}
        if path not in NEVER_REFUSES:
            assert refusals, (method, path)
        if path not in PUBLIC:
            assert {"401", "403"} <= refusals, (method, path, refusals)
        for status in refusals - {"503"} if path == "/ready" else refusals:
            schema = statuses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_error_descriptions_name_the_codes_a_client_can_get(app: tuple[FastAPI, Site]) -> None:
    op = app[0].openapi()["paths"]["/v1/gates"]["post"]
    assert "gate_exists" in op["responses"]["409"]["description"]
    assert "gate_config_invalid" in op["responses"]["422"]["description"]
    assert "unauthenticated" in op["responses"]["401"]["description"]


def test_real_answers_fit_the_published_schema(app: tuple[FastAPI, Site]) -> None:
    fastapi_app, _ = app
    document = fastapi_app.openapi()
    with TestClient(fastapi_app) as client:
        token = client.post("/v1/auth/login", json={"username": "admin", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {token.json()['token']}"}
        gate = {
            "id": "main",
            "name": "Pintu utama",
            "directions": ["in", "out"],
            "roles": ["visitor"],
        }
        calls = [
            ("POST", "/v1/auth/login", "/v1/auth/login", {"json": {"username": "admin", "password": PASSWORD}}),
            ("POST", "/v1/auth/login", "/v1/auth/login", {"json": {"username": "admin", "password": "wrong"}}),
            ("GET", "/health", "/health", {}),
            ("GET", "/ready", "/ready", {}),
            ("POST", "/v1/gates", "/v1/gates", {"json": gate, "headers": auth}),
            ("POST", "/v1/gates", "/v1/gates", {"json": gate, "headers": auth}),
            ("POST", "/v1/gates", "/v1/gates", {"json": {"id": "x"}, "headers": auth}),
            ("GET", "/v1/gates/main/events", "/v1/gates/{gate_id}/events", {"headers": auth}),
            ("GET", "/v1/gates/nowhere/events", "/v1/gates/{gate_id}/events", {"headers": auth}),
            ("GET", "/v1/visits/inside", "/v1/visits/inside", {"headers": auth}),
            ("GET", "/v1/gate-events/alarms", "/v1/gate-events/alarms", {"headers": auth}),
            ("GET", "/v1/identities", "/v1/identities", {"headers": auth}),
            ("GET", "/v1/identities/" + "0" * 36, "/v1/identities/{identity_id}", {"headers": auth}),
            ("GET", "/v1/identities/" + "0" * 36, "/v1/identities/{identity_id}", {}),
            ("GET", "/v1/identities/x/fingers", "/v1/identities/{identity_id}/fingers", {"headers": auth}),
            ("POST", "/v1/gate-events/1/override", "/v1/gate-events/{event_id}/override",
             {"json": {"reason": "known face"}, "headers": auth}),
            ("GET", "/v1/admin/gallery", "/v1/admin/gallery", {"headers": auth}),
        ]  # fmt: skip
        seen = set()
        for method, url, template, kwargs in calls:
            response = client.request(method, url, **kwargs)
            declared = document["paths"][template][method.lower()]["responses"]
            status = str(response.status_code)
            assert status in declared, (method, url, status, response.text)
            schema = declared[status]["content"]["application/json"]["schema"]
            assert problems(document, schema, response.json()) == [], (method, url, status)
            seen.add(status)
    assert {"200", "201", "401", "404", "409", "422", "503"} <= seen


def test_the_schema_check_catches_a_wrong_or_undocumented_field(app: tuple[FastAPI, Site]) -> None:
    document = app[0].openapi()
    gate = {"$ref": "#/components/schemas/GateResponse"}
    good = {"id": "main", "name": "Pintu", "directions": ["in"], "roles": ["visitor"]}
    assert problems(document, gate, good) == []
    assert problems(document, gate, {**good, "directions": ["sideways"]})
    assert problems(document, gate, {**good, "secret": 1})
    assert problems(document, gate, {k: v for k, v in good.items() if k != "name"})

"""POST /v1/gates and `gerbang gate add` accept and refuse the same gates: the route's published
schema and edge.gate.setup.check_gate, which both paths go through, agree on every case here."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from edge.gate.records import Gate, InvalidGateConfig
from edge.gate.setup import check_gate
from edge.routes.gate import GateBody

GOOD = {"id": "main", "name": "Pintu utama", "directions": ["in", "out"], "roles": ["visitor"]}
CASES = [
    {},
    {"id": "a.b_C-9"},
    {"id": "x" * 40},
    {"id": "x" * 41},
    {"id": ""},
    {"id": "bad id"},
    {"id": "gerbang/1"},
    {"id": "pintu\u00e9"},
    {"id": "main\n"},
    {"name": ""},
    {"name": "n" * 100},
    {"name": "n" * 101},
    {"directions": []},
    {"directions": ["out"]},
    {"directions": ["in", "sideways"]},
    {"roles": []},
    {"roles": ["inmate", "staff", "visitor"]},
    {"roles": ["warden"]},
    {"roles": ["Visitor"]},
]


def _api_accepts(body: dict[str, Any]) -> bool:
    try:
        GateBody.model_validate(body)
    except pydantic.ValidationError:
        return False
    return True


def _check_accepts(body: dict[str, Any]) -> bool:
    try:
        check_gate(Gate(body["id"], body["name"], tuple(body["directions"]), tuple(body["roles"])))
    except InvalidGateConfig as exc:
        assert exc.message.id and exc.message.en and exc.details
        return False
    return True


@pytest.mark.parametrize("change", CASES, ids=repr)
def test_the_api_schema_and_check_gate_accept_the_same_gates(change: dict[str, Any]) -> None:
    body = GOOD | change
    assert _api_accepts(body) == _check_accepts(body)

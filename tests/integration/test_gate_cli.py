"""`gerbang gate add|list` as an engineer runs them while installing a site: separate processes on
a real SQLite data folder, then `devices add` for the gate and the site service on that folder
deciding passages there by the definition the console gave."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.conftest import make_site_client, photo
from tests.integration.test_admin_commands import gerbang

GATE = (
    "gate",
    "add",
    "pintu-2",
    "--name",
    "Pintu dua",
    "--directions",
    "out",
    "--roles",
    "visitor",
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The console's environment on an empty data folder of its own."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}
    return kept | {"EDGE_DATA_DIR": str(tmp_path / "site")}


def configured_events(env: dict[str, str]) -> list[tuple[str, str, dict[str, object]]]:
    """(actor, subject, details) of every gate.configured audit event in the folder's database."""
    with sqlite3.connect(Path(env["EDGE_DATA_DIR"]) / "gerbang.db") as db:
        rows = db.execute(
            "SELECT actor, subject, details FROM audit_events WHERE action = 'gate.configured'"
        ).fetchall()
    return [(actor, subject, json.loads(details)) for actor, subject, details in rows]


def listed(env: dict[str, str]) -> tuple[list[list[str]], str]:
    """`gate list`'s table as cells (split on its column gaps), and all it printed."""
    shown = gerbang(env, "gate", "list")
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stdout.splitlines() if not line.startswith(("catatan", "note"))]
    return [
        [cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines
    ], shown.stdout


def test_a_gate_added_at_the_console_is_listed_audited_and_takes_a_terminal(
    env: dict[str, str],
) -> None:
    empty = gerbang(env, "gate", "list")
    assert empty.returncode == 0 and "no gate configured yet" in empty.stdout, empty.stderr
    added = gerbang(env, *GATE)
    assert added.returncode == 0, added.stderr
    assert "gate pintu-2 configured" in added.stdout
    assert listed(env)[0] == [
        ["GATE", "NAME", "DIRECTIONS", "ROLES", "DEVICES"],
        ["pintu-2", "Pintu dua", "out", "visitor", "0"],
    ]
    [(actor, subject, details)] = configured_events(env)
    assert actor.startswith("cli:") and len(actor) > len("cli:")
    assert (subject, details) == (
        "pintu-2",
        {"id": "pintu-2", "name": "Pintu dua", "directions": ["out"], "roles": ["visitor"]},
    )
    device = gerbang(env, "devices", "add", "kiosk-2", "--gate", "pintu-2")
    assert device.returncode == 0, device.stderr
    assert "not configured" not in device.stdout
    assert "terminal kiosk-2 di gerbang pintu-2" in device.stdout  # Indonesian, then English
    assert "kunci (ditampilkan sekali saja" in device.stdout
    elsewhere = gerbang(env, "devices", "add", "kiosk-9", "--gate", "pintu-9")
    assert "gerbang gate add pintu-9" in elsewhere.stdout  # the note points at this command
    table, printed = listed(env)
    assert table[1] == ["pintu-2", "Pintu dua", "out", "visitor", "1"]
    assert "not configured (they cannot pass anyone): pintu-9 (1)" in printed


@pytest.mark.model
def test_the_service_on_that_folder_decides_at_the_gate_by_the_console_s_definition(
    env: dict[str, str], model_dir: Path, dev_faces: Path
) -> None:
    assert gerbang(env, *GATE).returncode == 0
    device = gerbang(env, "devices", "add", "kiosk-2", "--gate", "pintu-2")
    key = device.stdout.split("X-Device-Key): ")[1].split()[0]
    data_dir = Path(env["EDGE_DATA_DIR"])
    # The conftest's site adds accounts, and a terminal at "main", a gate nobody configured.
    with contextmanager(make_site_client)(model_dir, data_dir) as sc:
        face = {"image": photo(dev_faces, "facerec-obama/1.jpg")}
        kiosk = {"X-Device-Key": key}
        leaving = sc.client.post("/v1/gates/pintu-2/visitor-exit", files=face, headers=kiosk)
        assert leaving.status_code == 200, leaving.text
        assert leaving.json()["gate_id"] == "pintu-2"
        assert leaving.json()["reason"] != "gate_not_for_passage"  # out, visitors: its passage
        staff = sc.client.post(
            "/v1/gates/pintu-2/staff", files=face, data={"direction": "in"}, headers=kiosk
        )
        assert (staff.status_code, staff.json()["reason"]) == (200, "gate_not_for_passage")
        unconfigured = sc.client.post(
            "/v1/gates/main/visitor-exit", files=face, headers=sc.as_role("device")
        )
        assert unconfigured.json()["error"]["code"] == "gate_not_found"
        again = {"id": "pintu-2", "name": "Pintu dua", "directions": ["out"], "roles": ["visitor"]}
        api = sc.client.post("/v1/gates", json=again, headers=sc.as_role("site_admin"))
        assert (api.status_code, api.json()["error"]["code"]) == (409, "gate_exists")
        listed = sc.client.get("/v1/gates", headers=sc.as_role("site_admin"))
        assert listed.status_code == 200, listed.text
        assert {"id": "pintu-2", "name": "Pintu dua", "directions": ["out"], "roles": ["visitor"],
                "devices": 1} in listed.json()  # fmt: skip
        assert "main" not in [g["id"] for g in listed.json()]  # a terminal, not a gate
        assert sc.client.get("/v1/gates", headers=kiosk).status_code == 200  # its setup checks


@pytest.mark.parametrize(
    ("flags", "shown", "english"),
    [
        (("bad id!", "--directions", "in", "--roles", "visitor"), "id: bad id!", "A gate id is"),
        (("x" * 41, "--directions", "in", "--roles", "visitor"), "id: xxx", "A gate id is"),
        (("side", "--directions", "sideways", "--roles", "visitor"), "directions: sideways",
         "directions are in and/or out"),
        (("side", "--directions", "in", "--roles", "visitor,warden"), "roles: visitor,warden",
         "roles that may pass are"),
        (("side", "--directions", "in", "--roles", ","), "roles: \n", "roles that may pass are"),
        (("side", "--name", "", "--directions", "in", "--roles", "staff"), "name: \n",
         "A gate name is 1-100"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_in_both_languages_and_writes_nothing(
    env: dict[str, str], flags: tuple[str, ...], shown: str, english: str
) -> None:
    refused = gerbang(env, "gate", "add", *flags)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    first, second = refused.stderr.splitlines()[:2]
    assert first.startswith("error [gate_config_invalid]: ")  # then the Indonesian sentence
    assert english in second and shown in refused.stderr
    assert configured_events(env) == []
    assert "no gate configured yet" in gerbang(env, "gate", "list").stdout


def test_adding_a_gate_again_is_a_no_op_and_another_definition_is_refused(
    env: dict[str, str],
) -> None:
    first = ("gate", "add", "staff-door", "--directions", "in,out", "--roles", "staff,visitor")
    assert gerbang(env, *first).returncode == 0
    same = gerbang(
        env, "gate", "add", "staff-door", "--name", "staff-door", "--direction", "out",
        "--direction", "in", "--role", "visitor", "--role", "staff", "--roles", "visitor",
    )  # fmt: skip
    assert same.returncode == 0, same.stderr
    assert "already configured this way: nothing changed" in same.stdout
    other = gerbang(env, "gate", "add", "staff-door", "--directions", "in", "--roles", "staff")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert other.stderr.startswith("error [gate_exists]: Gerbang dengan kode ini sudah ada")
    assert "configured: name 'staff-door', directions in,out, roles staff,visitor" in other.stderr
    assert "asked: name 'staff-door', directions in, roles staff" in other.stderr
    assert len(configured_events(env)) == 1  # neither the repeat nor the refusal wrote
    assert listed(env)[0][1:] == [["staff-door", "staff-door", "in,out", "staff,visitor", "0"]]

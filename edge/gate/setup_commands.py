"""`gerbang gate add|list`: a site's gates configured at the console, on its data folder.

    gerbang gate add main --name "Pintu utama" --directions in,out --roles visitor,inmate
    gerbang gate list

`add` takes the fields of POST /v1/gates and goes through the same use case (edge.gate.setup:
its rules, its insert, its audit event with `cli:<login name>` as the actor), so a site can be
set up before its service first runs, with no token and no curl. Like `devices add`, both work on
the database of EDGE_DATA_DIR, also while the service runs. Adding a gate again with the same
definition changes nothing; with another definition it is refused, as the API refuses it.
"""

from __future__ import annotations

import argparse
from contextlib import closing

from edge.admin_commands import login_name
from edge.gate.queries import configured_gates, devices_by_gate
from edge.gate.records import Gate
from edge.gate.setup import DIRECTIONS, ROLES, describe, ensure_gate
from edge.settings import Settings
from enrollment.db import Database
from kernel.console_table import table

COLUMNS = ("GATE", "NAME", "DIRECTIONS", "ROLES", "DEVICES")


def _values(given: list[str]) -> tuple[str, ...]:
    """A repeatable, comma-separated flag as one tuple: in order, blanks and repeats dropped."""
    return tuple(dict.fromkeys(v.strip() for text in given for v in text.split(",") if v.strip()))


def gate_add(args: argparse.Namespace) -> int:
    """Configure a gate (or find it configured the same way already)."""
    name = args.gate_id if args.name is None else args.name
    gate = Gate(args.gate_id, name, _values(args.directions), _values(args.roles))
    with closing(Database(Settings().database_path)) as db:
        added = ensure_gate(db, gate, f"cli:{login_name()}")
    if added:
        print(f"gerbang {gate.id} diatur: {_described_id(gate)}\n"
              f"gate {gate.id} configured: {describe(gate)}")  # fmt: skip
    else:
        print(f"gerbang {gate.id} sudah diatur seperti ini: tidak ada yang berubah\n"
              f"gate {gate.id} is already configured this way: nothing changed")  # fmt: skip
    return 0


def _described_id(gate: Gate) -> str:
    """`describe` in Indonesian (directions and roles are codes, the same in both languages)."""
    return f"nama {gate.name!r}, arah {','.join(gate.directions)}, peran {','.join(gate.roles)}"


def gate_list(_args: argparse.Namespace) -> int:
    """The configured gates with their directions, roles and active terminals."""
    with closing(Database(Settings().database_path)) as db:
        gates, devices = configured_gates(db), devices_by_gate(db)
    if not gates:
        how = "gerbang gate add GATE_ID --directions in,out --roles visitor"
        print(f"belum ada gerbang yang diatur: {how}\nno gate configured yet: {how}")
    else:
        rows = [(g.id, g.name, ",".join(g.directions), ",".join(g.roles), str(devices.get(g.id, 0))) for g in gates]  # fmt: skip
        print("\n".join(table([COLUMNS, *rows])))
    waiting = sorted(set(devices) - {g.id for g in gates})
    if waiting:
        named = ", ".join(f"{gate_id} ({devices[gate_id]})" for gate_id in waiting)
        print(f"catatan: ada terminal terdaftar di gerbang yang belum diatur (tidak dapat meloloskan"
              f" siapa pun): {named}\n"
              f"note: terminals registered at gates not configured (they cannot pass anyone): {named}")  # fmt: skip
    return 0


def add_parsers(gate: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `gate add` and `gate list` to the `gate` command."""
    add = gate.add_parser(
        "add",
        help="configure a gate: its directions and the roles that may pass",
        description="Configure a gate, as POST /v1/gates does, on the database of EDGE_DATA_DIR."
        " Running it again with the same definition changes nothing.",
    )
    add.add_argument("gate_id", metavar="GATE_ID", help="letters, digits, '.', '_' or '-'")
    add.add_argument("--name", help="what officers call it (default: GATE_ID)")
    add.add_argument(
        "--directions",
        "--direction",
        action="append",
        required=True,
        help=f"{' and/or '.join(DIRECTIONS)}; comma-separated or repeated",
    )
    add.add_argument(
        "--roles",
        "--role",
        action="append",
        required=True,
        help=f"who may pass: {', '.join(ROLES)}; comma-separated or repeated",
    )
    add.set_defaults(handler=gate_add)
    listing = gate.add_parser("list", help="the gates, their directions, roles and terminals")
    listing.set_defaults(handler=gate_list)

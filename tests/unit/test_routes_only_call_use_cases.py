"""Routes parse, authorise and call a use case or a query: none opens a transaction or runs SQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROUTES = Path(__file__).resolve().parents[2] / "edge" / "routes"
STORAGE_WORK = re.compile(r"\.transaction\(|\.reading\(|\bexecute(many|script)?\(|\bsqlite3\b")


def storage_work(source: str) -> list[str]:
    """The lines of `source` that open a transaction or run SQL."""
    return [line.strip() for line in source.splitlines() if STORAGE_WORK.search(line)]


@pytest.mark.parametrize("module", sorted(ROUTES.glob("*.py")), ids=lambda p: p.name)
def test_route_module_does_no_storage_work(module: Path) -> None:
    assert storage_work(module.read_text(encoding="utf-8")) == []


def test_the_check_finds_a_planted_transaction_and_sql() -> None:
    planted = (
        "def route(site):\n"
        "    with site.db.transaction() as tx:\n"
        "        tx.execute('DELETE FROM identities')\n"
    )
    assert len(storage_work(planted)) == 2
    assert storage_work("with site.db.reading() as tx: pass") != []


def test_the_walk_sees_the_route_modules() -> None:
    names = {p.name for p in ROUTES.glob("*.py")}
    assert {"gate.py", "identities.py", "captures.py", "system.py", "admin.py"} <= names

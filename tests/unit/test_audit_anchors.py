"""The site's audit chain against the attacks a bare hash chain misses: an event edited with every
later hash recomputed, and the newest events deleted. Both are found once a head is anchored
(the registry accepted it with a push, or an auditor kept it), and the CLI says where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.site import Site
from enrollment.accounts import AccountStore
from enrollment.audit import (
    KEPT_ANCHORS,
    anchor_head,
    append_event,
    chain_head,
    event_hash,
    verify_anchored,
    verify_chain,
)
from enrollment.db import Database
from gallery_sync.outbox import append_change
from tests.unit.test_agent import FakeRegistry, agent_of, registry, site  # noqa: F401 (fixtures)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "site.db")
    database.migrate()
    with database.transaction() as tx:
        for n in range(1, 9):
            append_event(tx, "officer", "identity.updated", f"person-{n}", {"n": n})
    return database


def rehash_from(tx: object, seq: int) -> None:
    """The attacker's move: recompute every hash from `seq` on so the chain verifies again."""
    rows = tx.execute(  # type: ignore[attr-defined]
        "SELECT seq, at, actor, action, subject, details FROM audit_events WHERE seq >= ?"
        " ORDER BY seq", (seq,)
    ).fetchall()  # fmt: skip
    prev = tx.execute("SELECT hash FROM audit_events WHERE seq = ?", (seq - 1,)).fetchone()[0]  # type: ignore[attr-defined]
    for row in rows:
        digest = event_hash(*row, prev)
        tx.execute("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",  # type: ignore[attr-defined]
                   (prev, digest, row[0]))  # fmt: skip
        prev = digest


def test_an_edit_with_every_later_hash_recomputed_breaks_at_the_anchor(db: Database) -> None:
    with db.transaction() as tx:
        anchor_head(tx, *chain_head(tx), "the registry")
        tx.execute("UPDATE audit_events SET details = ? WHERE seq = 3",
                   (json.dumps({"n": "quietly changed"}),))  # fmt: skip
        rehash_from(tx, 3)
    with db.reading() as tx:
        assert verify_chain(tx) is None  # the bare chain is fooled
        problem = verify_anchored(tx)
    assert problem is not None and problem.seq == 8 and "rewritten" in problem.reason


def test_deleting_the_newest_events_is_reported_as_truncation(db: Database) -> None:
    with db.transaction() as tx:
        anchor_head(tx, *chain_head(tx), "the registry")
        tx.execute("DELETE FROM audit_events WHERE seq > 5")
    with db.reading() as tx:
        assert verify_chain(tx) is None
        problem = verify_anchored(tx)
    assert problem is not None and problem.seq == 6
    assert "6..8 are missing" in problem.reason and "truncated" in problem.reason


def test_a_head_an_auditor_kept_catches_what_a_wiped_anchor_table_hides(db: Database) -> None:
    with db.reading() as tx:
        kept = chain_head(tx)
    with db.transaction() as tx:
        tx.execute("DELETE FROM audit_events WHERE seq > 6")
        tx.execute("DELETE FROM audit_anchors")
    with db.reading() as tx:
        assert verify_anchored(tx) is None
        problem = verify_anchored(tx, [kept])
    assert problem is not None and "kept by an auditor" in problem.reason


def test_an_intact_chain_reaches_every_anchor_and_new_events_follow(db: Database) -> None:
    with db.transaction() as tx:
        anchor_head(tx, *chain_head(tx), "the registry")
        append_event(tx, "officer", "identity.status", "person-1", {"to": "released"})
    with db.reading() as tx:
        assert verify_anchored(tx) is None


def test_operators_and_devices_are_in_the_chain(db: Database) -> None:
    with db.transaction() as tx:
        accounts = AccountStore(tx)
        accounts.add_operator("rina", "Rina", "supervisor", "correct horse battery", "admin")
        _, key = accounts.add_device("kiosk-2", "main", "admin")
    with db.reading() as tx:
        rows = tx.execute(
            "SELECT actor, action, details FROM audit_events WHERE seq > 8"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [("admin", "operator.added"), ("admin", "device.added")]
    assert key not in rows[1][2]  # the key's digest, never the key


def test_each_head_the_registry_accepts_becomes_an_anchor(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
) -> None:
    with site.db.transaction() as tx:
        for n in range(3):
            append_change(tx, "gate.event", str(n), {"n": n})
            append_event(tx, "gate", "gate.admit", "main", {"n": n})
    agent = agent_of(site, registry, [], batch_size=10)
    assert agent.push_pending() == 3
    with site.db.reading() as tx:
        anchors = tx.execute("SELECT seq, hash, witness FROM audit_anchors").fetchall()
        assert [tuple(a) for a in anchors] == [(*chain_head(tx), "the registry")]


def test_only_the_newest_anchors_are_kept(db: Database) -> None:
    with db.transaction() as tx:
        for n in range(1, 9):
            seq, digest = tx.execute(
                "SELECT seq, hash FROM audit_events WHERE seq = ?", (n,)
            ).fetchone()
            anchor_head(tx, seq, digest, "the registry")
        for n in range(25):
            anchor_head(tx, *chain_head(tx), "the registry")
            append_event(tx, "gate", "gate.admit", "main", {"n": n})
        kept = [r[0] for r in tx.execute("SELECT seq FROM audit_anchors ORDER BY seq")]
    assert len(kept) == KEPT_ANCHORS and kept[-1] == 32
    with db.reading() as tx:
        assert verify_anchored(tx) is None

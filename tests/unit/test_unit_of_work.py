"""The site's unit of work: one transaction, the outbox row and its audit event written together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from enrollment.audit import verify_chain
from enrollment.db import Database
from enrollment.unit_of_work import reading, unit_of_work


@pytest.fixture
def db(tmp_path: Path) -> Database:
    return Database(tmp_path / "site.db")


def _rows(db: Database) -> tuple[list[tuple[str, str, dict]], list[tuple[str, str, str, dict]]]:
    with db.reading() as tx:
        outbox = [
            (r[0], r[1], json.loads(r[2]))
            for r in tx.execute("SELECT kind, entity_id, payload FROM outbox ORDER BY seq")
        ]
        audit = [
            (r[0], r[1], r[2], json.loads(r[3]))
            for r in tx.execute(
                "SELECT actor, action, subject, details FROM audit_events ORDER BY seq"
            )
        ]
    return outbox, audit


def test_record_writes_the_outbox_row_and_its_audit_event(db: Database) -> None:
    with unit_of_work(db) as uow:
        seq = uow.record("identity.updated", "id-1", {"fields": {"full_name": "A"}}, "officer",
                         {"fields": ["full_name"]})  # fmt: skip
    outbox, audit = _rows(db)
    assert seq == 1
    assert outbox == [("identity.updated", "id-1", {"fields": {"full_name": "A"}})]
    assert audit == [("officer", "identity.updated", "id-1", {"fields": ["full_name"]})]
    with db.reading() as tx:
        assert verify_chain(tx) is None


def test_record_may_name_another_action_and_subject(db: Database) -> None:
    with unit_of_work(db) as uow:
        uow.record("gate.event", "7", {"result": "admit"}, "kiosk", {"result": "admit"},
                   action="gate.admit", subject="main")  # fmt: skip
    outbox, audit = _rows(db)
    assert outbox[0][:2] == ("gate.event", "7")
    assert audit[0][:3] == ("kiosk", "gate.admit", "main")


def test_a_failure_inside_the_unit_leaves_neither_row(db: Database) -> None:
    with pytest.raises(RuntimeError), unit_of_work(db) as uow:
        uow.record("identity.status", "id-1", {"status": "released"}, "officer", {})
        raise RuntimeError("the use case failed after recording")
    assert _rows(db) == ([], [])


def test_audit_alone_sends_nothing_to_the_registry(db: Database) -> None:
    with unit_of_work(db) as uow:
        uow.audit("officer", "capture.abandoned", "session-1", {})
    outbox, audit = _rows(db)
    assert outbox == [] and audit == [("officer", "capture.abandoned", "session-1", {})]


def test_the_stores_share_the_unit_s_transaction(db: Database) -> None:
    with unit_of_work(db) as uow:
        session_id = uow.captures.open_session("visitor", "officer", None)
        assert uow.captures.session(session_id)["role"] == "visitor"
    with reading(db) as uow:
        assert uow.captures.count(session_id) == 0
        assert uow.accounts.operator_row("nobody") is None

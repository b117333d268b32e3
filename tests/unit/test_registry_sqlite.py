"""The SQLite registry backend's translation of the registry's SQL, and its values on the way in
and out (what PostgreSQL's driver would have given back)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from registry.audit_chain import verify_audit_chain
from registry.db import open_database
from registry.db_sqlite import SqliteDatabase, statements, timestamp_text, translate
from registry.journal import audit
from registry.settings import RegistrySettings


def test_translate_rewrites_only_the_postgresql_spellings() -> None:
    assert translate("SELECT a FROM t WHERE id = %s FOR UPDATE") == "SELECT a FROM t WHERE id = ?"
    assert (
        translate("SELECT id FROM t WHERE x IS NULL LIMIT %s FOR UPDATE SKIP LOCKED")
        == "SELECT id FROM t WHERE x IS NULL LIMIT ?"
    )
    assert (
        translate("SELECT 1 FROM t WHERE id = ANY(%s::uuid[])")
        == "SELECT 1 FROM t WHERE id IN (SELECT value FROM json_each(?))"
    )
    assert translate("SELECT 1 WHERE (%s::text IS NULL OR region = %s)") == (
        "SELECT 1 WHERE (? IS NULL OR region = ?)"
    )
    assert translate("UPDATE t SET at = now() WHERE name LIKE 'w-%%'") == (
        "UPDATE t SET at = strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now') WHERE name LIKE 'w-%'"
    )
    assert translate("SELECT snow() FROM t") == "SELECT snow() FROM t"  # a word boundary


def test_timestamps_are_one_text_form_that_sorts_like_time() -> None:
    jakarta = timezone(timedelta(hours=7))
    moment = datetime(2026, 11, 22, 20, 0, 0, 123456, tzinfo=jakarta)
    assert timestamp_text(moment) == "2026-11-22T13:00:00.123+00:00"
    assert timestamp_text(moment.replace(microsecond=0)) == "2026-11-22T13:00:00.000+00:00"
    later = moment + timedelta(milliseconds=1)
    assert timestamp_text(moment) < timestamp_text(later)


def test_statements_keep_a_trigger_whole() -> None:
    script = (
        "-- a comment\nCREATE TABLE a (x INTEGER);\n"
        "CREATE TRIGGER t BEFORE DELETE ON a\nBEGIN\n    SELECT RAISE(ABORT, 'no');\nEND;\n"
    )
    found = list(statements(script))
    assert len(found) == 2 and found[1].startswith("CREATE TRIGGER") and found[1].endswith("END;")
    with pytest.raises(ValueError, match="unfinished"):
        list(statements("CREATE TABLE b (x INTEGER)"))


def test_values_come_back_as_the_postgresql_driver_gives_them(tmp_path: Path) -> None:
    database = SqliteDatabase(f"sqlite:///{tmp_path / 'r.db'}")
    database.migrate()
    identity = uuid.uuid4()
    with database.transaction() as tx:
        tx.execute(
            "INSERT INTO national_identities (id, role, status, record) VALUES (%s, %s, %s, %s)",
            (identity, "visitor", "banned", Jsonb({"full_name": "Ani", "aliases": ["A"]})),
        )
    with database.transaction() as tx:
        row = tx.execute(
            "SELECT id, record, created_at, record->>'full_name' AS name FROM national_identities"
            " WHERE id = ANY(%s) AND created_at > %s",
            ([identity], datetime.now(UTC) - timedelta(minutes=1)),
        ).fetchone()
    assert row is not None
    assert row["id"] == identity and row["record"] == {"full_name": "Ani", "aliases": ["A"]}
    assert row["name"] == "Ani" and row["created_at"].tzinfo is not None


def test_a_failed_transaction_leaves_nothing_and_migrations_apply_once(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'r.db'}")
    first, again = database.migrate(), database.migrate()
    assert first == sorted(first) and len(first) >= 2 and again == []
    with pytest.raises(RuntimeError), database.transaction() as tx:
        tx.execute("INSERT INTO quarantine (reason, detail, body) VALUES ('x', 'y', %s)", (b"z",))
        raise RuntimeError("crash before commit")
    assert database.scalar("SELECT count(*) FROM quarantine") == 0
    with pytest.raises(Exception, match="append-only"), database.transaction() as tx:
        tx.execute(
            "INSERT INTO audit (actor, action, subject, details) VALUES ('a', 'b', 'c', '{}')"
        )
        tx.execute("DELETE FROM audit")


def test_the_embedded_default_is_sqlite_and_other_schemes_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REGISTRY_DATABASE_URL", raising=False)
    assert RegistrySettings().database_url.startswith("sqlite:///")
    assert RegistrySettings(database_url="postgresql://h/db").database_url == "postgresql://h/db"
    with pytest.raises(ValueError, match="sqlite"):
        RegistrySettings(database_url="mysql://h/db")


def test_the_audit_chain_verifies_on_sqlite_and_finds_a_rewritten_event(tmp_path: Path) -> None:
    database = SqliteDatabase(f"sqlite:///{tmp_path / 'r.db'}")
    database.migrate()
    with database.transaction() as tx:
        for n in range(3):
            audit(tx, "admin", "site.added", f"UPT-{n}", {"n": n, "score": 0.1 * n})
    with database.transaction() as tx:
        report = verify_audit_chain(tx)
    assert report.ok and report.checked == 3
    with database.transaction() as tx:  # a forger who can bypass the append-only trigger
        tx.raw.execute("DROP TRIGGER audit_no_update")
        tx.execute("UPDATE audit SET subject = 'UPT-X' WHERE subject = 'UPT-1'")
    with database.transaction() as tx:
        report = verify_audit_chain(tx)
    assert not report.ok and report.broken is not None

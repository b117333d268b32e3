"""Bringing every stored biometric under the current data key: rows left in clear by an older
version (once, on start), and rows under an older key after `gerbang keys rotate`.

Work goes in batches, one transaction each, so the service keeps serving between them and a
crash resumes where it stopped (a start-up migration records its cursor in `site_state`).
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from enrollment.db import Database
from enrollment.keyring import (
    KEY_BYTES,
    Kek,
    SealedVault,
    key_id_of,
    unwrap,
    wrap,
)
from enrollment.vault import (
    BIOMETRIC_FIELDS,
    SEALED_FIELD,
    aad_for,
    open_payload,
    seal_payload,
)
from kernel.clock import now_iso
from kernel.errors import Conflict, Message

log = logging.getLogger(__name__)

# (table, column, owning column) of every sealed biometric value.
SEALED_COLUMNS = (
    ("images", "data", "identity_id"),
    ("templates", "vector", "identity_id"),
    ("captures", "data", "session_id"),
    ("captures", "vector", "session_id"),
    ("finger_images", "data", "identity_id"),
    ("finger_templates", "iso_record", "identity_id"),
    ("exchange_imports", "transaction_data", "id"),  # a received ANSI/NIST file: faces, fingers
)
MIGRATED = "vault.clear_rows_sealed"
BATCH = 200


@dataclass(frozen=True)
class _Column:
    table: str
    column: str
    owner: str


def _columns() -> list[_Column]:
    return [_Column(*c) for c in SEALED_COLUMNS]


def _reseal_column(
    db: Database, vault: SealedVault, col: _Column, plain_of: Callable[[bytes, bytes], bytes | None],
    start: int, cursor_key: str | None, batch: int,
) -> int:  # fmt: skip
    """Seal again every value `plain_of` opens (None: leave it), from rowid `start` on; return
    how many."""
    changed, after = 0, start
    while True:
        with db.transaction() as tx:
            rows = tx.execute(
                f"SELECT rowid, {col.column}, {col.owner} FROM {col.table}"
                f" WHERE rowid > ? AND {col.column} IS NOT NULL ORDER BY rowid LIMIT ?",
                (after, batch),
            ).fetchall()
            for rowid, value, owner in rows:
                aad = aad_for(col.table, col.column, owner)
                if (plain := plain_of(value, aad)) is not None:
                    tx.execute(
                        f"UPDATE {col.table} SET {col.column} = ? WHERE rowid = ?",
                        (vault.seal(plain, aad), rowid),
                    )
                    changed += 1
            if rows:
                after = rows[-1][0]
                if cursor_key:
                    _write_state(tx, cursor_key, str(after))
        if len(rows) < batch:
            return changed


def _reseal_outbox(
    db: Database, vault: SealedVault, stale_key: Callable[[int | None], bool], batch: int
) -> int:
    """Seal biometric fields left in clear in outbox payloads, and re-seal those under a stale key."""
    changed, after = 0, 0
    while True:
        with db.transaction() as tx:
            rows = tx.execute(
                "SELECT seq, kind, entity_id, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, batch),
            ).fetchall()
            for seq, kind, entity_id, text in rows:
                payload = json.loads(text)
                clear = any(k in payload for k in BIOMETRIC_FIELDS)
                sealed = payload.get(SEALED_FIELD)
                if not clear and not (sealed and stale_key(key_id_of(base64.b64decode(sealed)))):
                    continue
                plain = open_payload(vault, kind, entity_id, payload)
                fresh = seal_payload(vault, kind, entity_id, plain)
                tx.execute(
                    "UPDATE outbox SET payload = ? WHERE seq = ?",
                    (json.dumps(fresh, sort_keys=True, default=str), seq),
                )
                changed += 1
            if rows:
                after = rows[-1][0]
        if len(rows) < batch:
            return changed


def seal_clear_rows(db: Database, vault: SealedVault, batch: int = BATCH) -> int:
    """Once per database: seal every biometric stored in clear by an older version. Resumable."""
    if _read_state(db, MIGRATED) == "done":
        return 0
    changed = 0
    for col in _columns():
        key = f"vault.clear_cursor.{col.table}.{col.column}"
        start = int(_read_state(db, key) or 0)
        changed += _reseal_column(
            db, vault, col, lambda v, aad: None if vault.opens(v, aad) else v, start, key, batch
        )
    changed += _reseal_outbox(db, vault, lambda _key: False, batch)
    with db.transaction() as tx:
        _write_state(tx, MIGRATED, "done")
    if changed:
        log.warning("sealed %d biometric values that an older version stored in clear", changed)
    return changed


class RotationRunning(Conflict):
    code = "key_rotation_running"
    message = Message(
        "Rotasi kunci data lain sedang berjalan di mesin ini: tunggu sampai selesai.",
        "Another data key rotation is running on this machine: wait until it has finished.",
    )


def rotate(db: Database, kek: Kek, batch: int = BATCH, settle: float = 0.0) -> int:
    """A new data key: seal new values with it, re-seal every old one, then forget the old key.

    Nothing is left under the old key when it is deleted, without waiting for running processes:
    every site process seals inside the write transaction that stores the value, reading the
    active key there (`SealedVault.seal`), and the flip is a write transaction too, so SQLite
    commits each store wholly before the flip or wholly after it. Before: the value is in the
    database when the re-seal passes, which start after the flip, read it. After: it is under the
    new key. `settle` (seconds) only delays the passes.

    One rotation at a time (a lock file beside the database: a second is refused with
    `key_rotation_running`), since a second flip during the first's passes would let the first's
    DELETE take a key the second still re-seals from. A key left retiring by an interrupted
    rotation is retired first; then the new key is made, as asked.
    """
    lock = db.path.with_name(db.path.name + ".rotate.lock")
    with lock.open("a") as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RotationRunning(lock=str(lock)) from exc
        changed = 0
        if db.query("SELECT 1 FROM vault_keys WHERE state = 'retiring'"):
            log.warning("a key is still retiring (an interrupted rotation): retiring it first")
            changed += _retire(db, kek, batch)
        _flip(db, kek)
        if settle:
            time.sleep(settle)
        return changed + _retire(db, kek, batch)


def _flip(db: Database, kek: Kek) -> None:
    """Make a new data key active and the active one retiring, in one write transaction."""
    with db.transaction() as tx:
        new_id = int(tx.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM vault_keys").fetchone()[0])
        salt, wrapped = wrap(kek, new_id, secrets.token_bytes(KEY_BYTES))
        tx.execute("UPDATE vault_keys SET state = 'retiring' WHERE state = 'active'")
        tx.execute(
            "INSERT INTO vault_keys (id, salt, wrapped, kek_kind, state, created_at)"
            " VALUES (?, ?, ?, ?, 'active', ?)",
            (new_id, salt, wrapped, kek.kind, now_iso()),
        )


def _retire(db: Database, kek: Kek, batch: int) -> int:
    """Re-seal every value not under the active key, then delete the retiring keys."""
    vault = SealedVault(db, kek)  # holds every key, the new one active
    changed = reseal_stale(db, vault, batch)
    while (late := reseal_stale(db, vault, batch)) > 0:  # a belt: by the above, never found
        log.warning(
            "re-sealed %d values sealed under the old key after the flip (outside the"
            " transaction that stored them?)",
            late,
        )
        changed += late
    with db.transaction() as tx:
        tx.execute("DELETE FROM vault_keys WHERE state = 'retiring'")
    return changed


def reseal_stale(db: Database, vault: SealedVault, batch: int = BATCH) -> int:
    """Re-seal every value not under the active key; return how many."""
    active = vault.active

    def plain_of(value: bytes, aad: bytes) -> bytes | None:
        return None if key_id_of(value) == active else vault.open(value, aad)

    changed = sum(_reseal_column(db, vault, c, plain_of, 0, None, batch) for c in _columns())
    return changed + _reseal_outbox(db, vault, lambda key: key != active, batch)


def rewrap(db: Database, old: Kek, new: Kek) -> int:
    """Wrap the same data keys under a new KEK (the data stays as it is); return how many keys."""
    SealedVault(db, old)  # refuses a wrong old KEK before anything changes
    with db.transaction() as tx:
        rows = tx.execute("SELECT id, salt, wrapped, kek_kind FROM vault_keys").fetchall()
        for key_id, salt, wrapped, kind in rows:
            data_key = unwrap(old, key_id, salt, wrapped, kind)
            new_salt, new_wrapped = wrap(new, key_id, data_key)
            tx.execute(
                "UPDATE vault_keys SET salt = ?, wrapped = ?, kek_kind = ? WHERE id = ?",
                (new_salt, new_wrapped, new.kind, key_id),
            )
    return len(rows)


def _read_state(db: Database, key: str) -> str | None:
    rows = db.query("SELECT value FROM site_state WHERE key = ?", (key,))
    return str(rows[0][0]) if rows else None


def _write_state(tx: sqlite3.Connection, key: str, value: str) -> None:
    tx.execute(
        "INSERT INTO site_state (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )

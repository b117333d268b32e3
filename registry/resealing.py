"""Sealing the registry's stored biometrics: rows written before encryption, and every row again
under a new data key (`gerbang registry keys rotate`).

Each table is walked by its key in pages; every page commits on its own, so a crash mid-way
loses nothing and the next run (every start, or the command again) goes on from what is left:
a value already sealed under the active key is skipped. Readers open a value not yet sealed as
it is (`RegistryVault.open_or_plain`), so the service runs while this goes on.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from enrollment.keyring import REFRESH_SECONDS, key_id_of
from enrollment.vault import SEALED_FIELD
from registry.db import POSTGRES_SCHEMES, RegistryDatabase
from registry.vault import BIOMETRIC_FIELDS, RegistryVault, aad_for, add_data_key

log = logging.getLogger(__name__)
PAGE = 500


@dataclass(frozen=True)
class Column:
    """One stored biometric: its table, key, owning person (or site) and value columns."""

    table: str
    key: str
    owner: str
    value: str


COLUMNS = (
    Column("national_templates", "id", "identity_id", "vector"),
    Column("national_fingers", "id", "identity_id", "iso_record"),
    Column("national_photos", "identity_id", "identity_id", "image"),
    Column("quarantine", "id", "site_id", "body"),
)


def _current(vault: RegistryVault, value: Any) -> bool:
    """Sealed under the active key (nothing to do), or empty."""
    data = bytes(value) if value is not None else b""
    return not data or key_id_of(data) == vault.active


def _reseal_column(db: RegistryDatabase, vault: RegistryVault, c: Column) -> int:
    changed, after = 0, None
    while True:
        with db.transaction() as tx:
            where = "" if after is None else f" WHERE {c.key} > %s"
            rows = tx.execute(
                f"SELECT {c.key} AS k, {c.owner} AS owner, {c.value} AS v FROM {c.table}{where}"
                f" ORDER BY {c.key} LIMIT {PAGE}".encode(),
                () if after is None else (after,),
            ).fetchall()
            for row in rows:
                if _current(vault, row["v"]):
                    continue
                owner = str(row["owner"] or "-")
                aad = aad_for(c.table, c.value, owner)
                sealed = vault.seal(vault.open_or_plain(row["v"], aad), aad)
                tx.execute(f"UPDATE {c.table} SET {c.value} = %s WHERE {c.key} = %s".encode(),
                           (sealed, row["k"]))  # fmt: skip
                changed += 1
        if len(rows) < PAGE:
            return changed
        after = rows[-1]["k"]


def _reseal_change_log(db: RegistryDatabase, vault: RegistryVault) -> int:
    changed, after = 0, 0
    while True:
        with db.transaction() as tx:
            rows = tx.execute(
                "SELECT seq, kind, target_site, payload FROM change_log WHERE seq > %s"
                " ORDER BY seq LIMIT %s",
                (after, PAGE),
            ).fetchall()
            for row in rows:
                payload, owner = row["payload"], row["target_site"] or "*"
                sealed = payload.get(SEALED_FIELD)
                if sealed is not None and key_id_of(base64.b64decode(sealed)) == vault.active:
                    continue
                if sealed is None and not any(k in payload for k in BIOMETRIC_FIELDS):
                    continue
                plain = vault.open_payload(row["kind"], owner, payload)
                tx.execute("UPDATE change_log SET payload = %s WHERE seq = %s",
                           (Jsonb(vault.seal_payload(row["kind"], owner, plain)), row["seq"]))  # fmt: skip
                changed += 1
        if len(rows) < PAGE:
            return changed
        after = rows[-1]["seq"]


def reseal_existing(db: RegistryDatabase, vault: RegistryVault) -> dict[str, int]:
    """Seal (or re-seal under the active key) every stored biometric; counts per table."""
    counts = {c.table: _reseal_column(db, vault, c) for c in COLUMNS}
    counts["change_log"] = _reseal_change_log(db, vault)
    if any(counts.values()):
        log.info("sealed stored biometrics under data key %d: %s", vault.active, counts)
    return counts


def rotate(db: RegistryDatabase, vault: RegistryVault, drop_old: bool = False) -> dict[str, Any]:
    """A new active data key and every value re-sealed under it. Run again after a crash: it
    finishes the rotation under way instead of starting another.

    The old keys stay ('retiring': they open, never seal) unless `drop_old`, because another
    registry process may still seal under the old key for a moment (a replica until its next key
    check, an SQLite server until it restarts): deleting it then would lose that value. With
    `drop_old`, every registry process must be stopped; a last pass must find nothing left under
    the old keys, or they stay."""
    with db.transaction() as tx:
        states = {int(r["id"]): r["state"] for r in tx.execute("SELECT id, state FROM vault_keys")}
        if "retiring" not in states.values():
            tx.execute("UPDATE vault_keys SET state = 'retiring'")
            add_data_key(tx, vault.kek, max(states, default=0) + 1)
    vault.ready()
    if db.url.startswith(POSTGRES_SCHEMES):
        time.sleep(2 * REFRESH_SECONDS)  # other replicas start sealing under the new key
    counts = reseal_existing(db, vault)
    dropped: list[int] = []
    if drop_old and not any(reseal_existing(db, vault).values()):
        with db.transaction() as tx:
            dropped = [int(r["id"]) for r in tx.execute(
                "DELETE FROM vault_keys WHERE state = 'retiring' RETURNING id")]  # fmt: skip
        vault.ready()
    return {"active_key": vault.active, "resealed": counts, "dropped_keys": dropped}

"""The national watchlist: banned visitors and wanted persons, sent to every site.

An entry is a national identity owned by the registry (no site), status `banned`, with face
templates in the national gallery and/or finger records in the national finger index
(registry/watchlist_fingers.py), so a later enrolment anywhere that matches it opens a duplicate
case. `watchlist.added` carries both to every site, whose gate checks banned visitors by face,
by finger, or both fused.

Removal erases the entry (status `erased`, its face templates and fingers deleted; the record and the audit trail
stay), as every site does with a registry entry it receives: the watchlist was the only reason to
hold that face, and no consent was taken for it. Only a registry entry can be removed: a visitor
banned by their own site is that site's decision (the site lifts it, and its change arrives here).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
from psycopg.types.json import Jsonb
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from enrollment.vault import aad_for
from gallery_sync.partitions import UNIT_TOLERANCE
from kernel.text import free_json, free_text, one_line
from registry.db import Connection
from registry.errors import (
    NotOnWatchlist,
    RegistryInputInvalid,
    RegistryNotFound,
    WatchlistNoBiometrics,
)
from registry.journal import append_change, audit
from registry.payloads import TemplateIn
from registry.transfers import fingers_payload, templates_payload
from registry.watchlist_fingers import (
    MAX_FINGERS,
    WatchlistFinger,
    checked_fingers,
    insert_fingers,
)


class WatchlistEntry(BaseModel):
    """Who is put on the national watchlist, why, their face templates and/or fingers."""

    model_config = ConfigDict(extra="forbid")

    full_name: Annotated[str, AfterValidator(one_line)] = Field(min_length=1, max_length=300)
    role: Literal["visitor", "inmate", "staff"] = "visitor"
    reason: Annotated[str, AfterValidator(free_text)] = Field(min_length=3, max_length=1000)
    nik: str | None = Field(None, pattern=r"^\d{16}$")
    details: Annotated[dict[str, Any], AfterValidator(free_json)] = Field(default_factory=dict)
    templates: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="base64 float32 LE vectors of the registry's pack",
    )
    fingers: list[WatchlistFinger] = Field(
        default_factory=list,
        max_length=MAX_FINGERS,
        description="ISO/IEC 19794-2 finger records with their ISO position (one view each)",
    )


def add_entry(
    tx: Connection, entry: WatchlistEntry, officer: str, pack_id: str, dimension: int,
    vault: Any = None,
) -> tuple[dict[str, Any], list[int]]:  # fmt: skip
    """Store the person, templates and fingers, queue `watchlist.added` for every site;
    (body, template ids). Everything is checked before anything is written."""
    if not entry.templates and not entry.fingers:
        raise WatchlistNoBiometrics()
    vectors = [_vector(text, i, dimension) for i, text in enumerate(entry.templates)]
    fingers = checked_fingers(entry.fingers)
    identity_id = str(uuid.uuid4())
    record = {"id": identity_id, "role": entry.role, "status": "banned", "full_name": entry.full_name,
              "nik": entry.nik, "details": entry.details, "watchlist_reason": entry.reason,
              "watchlist_officer": officer,
              "created_at": datetime.now(UTC).isoformat(timespec="microseconds"), "version": 1}  # fmt: skip
    tx.execute(
        "INSERT INTO national_identities (id, site_id, role, status, record) VALUES (%s, NULL, %s, 'banned', %s)",
        (identity_id, entry.role, Jsonb(record)),
    )
    template_ids = [_insert_template(tx, identity_id, pack_id, v, vault) for v in vectors]
    insert_fingers(tx, identity_id, fingers, vault)
    body = {
        "identity": record,
        "reason": entry.reason,
        "templates": templates_payload(tx, identity_id, vault),
        "fingers": fingers_payload(tx, identity_id, vault),
    }
    seq = append_change(tx, None, "watchlist.added", body, vault)
    audit(tx, officer, "watchlist.added", identity_id,
          {"reason": entry.reason, "templates": len(vectors), "fingers": len(fingers)})  # fmt: skip
    return {"identity_id": identity_id, "change_seq": seq}, template_ids


class WatchlistRemoval(BaseModel):
    """Why a person leaves the national watchlist (kept in the audit trail and sent to sites)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, AfterValidator(free_text)] = Field(min_length=3, max_length=1000)


def remove_entry(tx: Connection, identity_id: str, officer: str, reason: str) -> dict[str, Any]:
    """Erase a registry entry and queue `watchlist.removed` for every site; the answer body."""
    row = tx.execute(
        "SELECT site_id, status, record FROM national_identities WHERE id = %s FOR UPDATE",
        (identity_id,),
    ).fetchone()
    if row is None:
        raise RegistryNotFound.missing("identity", identity_id)
    if row["site_id"] is not None or row["status"] != "banned":
        raise NotOnWatchlist.because(identity_id, row["status"], row["site_id"])
    record = {**row["record"], "status": "erased",
              "version": int(row["record"].get("version") or 1) + 1}  # fmt: skip
    tx.execute(
        "UPDATE national_identities SET status = 'erased', record = %s, version = %s,"
        " updated_at = now() WHERE id = %s",
        (Jsonb(record), record["version"], identity_id),
    )
    erased = tx.execute(
        "DELETE FROM national_templates WHERE identity_id = %s RETURNING id", (identity_id,)
    ).fetchall()
    fingers = tx.execute(
        "DELETE FROM national_fingers WHERE identity_id = %s RETURNING id", (identity_id,)
    ).fetchall()
    seq = append_change(
        tx, None, "watchlist.removed", {"identity_id": identity_id, "reason": reason}
    )
    audit(tx, officer, "watchlist.removed", identity_id,
          {"reason": reason, "templates_erased": len(erased), "fingers_erased": len(fingers)})  # fmt: skip
    return {"identity_id": identity_id, "status": "erased", "change_seq": seq}


def follow_site_status(
    tx: Connection, identity_id: str, before: dict[str, Any], status: str, site_id: str,
    reason: str | None, officer: str | None, vault: Any = None,
) -> int | None:  # fmt: skip
    """A site banned its visitor, or lifted the ban: the watchlist follows; the change's seq."""
    was_banned, banned = before["status"] == "banned", status == "banned"
    if before["record"].get("role") != "visitor" or was_banned == banned:
        return None
    reason = reason or "(no reason sent by the site)"
    if banned:
        record = {**before["record"], "status": "banned", "watchlist_reason": reason,
                  "watchlist_officer": officer,
                  "origin_site": before["record"].get("origin_site") or site_id}  # fmt: skip
        tx.execute(  # the national list shows why and by whom
            "UPDATE national_identities SET record = %s WHERE id = %s", (Jsonb(record), identity_id)
        )
        kind, body = "watchlist.added", {
            "identity": record, "reason": reason, "banned_by_site": site_id, "officer": officer,
            "templates": templates_payload(tx, identity_id, vault),
            "fingers": fingers_payload(tx, identity_id, vault),
        }  # fmt: skip
    else:
        kind = "watchlist.removed"
        body = {"identity_id": identity_id, "reason": reason, "banned_by_site": site_id}
    seq = append_change(tx, None, kind, body, vault)
    audit(tx, f"{site_id}/{officer or 'site'}", kind, identity_id,
          {"reason": reason, "site": site_id, "officer": officer, "change_seq": seq})  # fmt: skip
    return seq


def entries(tx: Connection, limit: int = 1000) -> list[dict[str, Any]]:
    """The people banned nationally, newest first: who, why, who owns the ban, how many finger
    records the sites' gates check them by."""
    rows = tx.execute(
        "SELECT i.id, i.site_id, i.role, i.record, i.updated_at,"
        " (SELECT count(*) FROM national_fingers f WHERE f.identity_id = i.id) AS fingers"
        " FROM national_identities i WHERE i.status = 'banned'"
        " ORDER BY i.updated_at DESC, i.id LIMIT %s",
        (limit,),
    ).fetchall()
    return [
        {"identity_id": str(r["id"]), "site_id": r["site_id"], "role": r["role"],
         "full_name": r["record"].get("full_name", ""), "nik": r["record"].get("nik"),
         "reason": r["record"].get("watchlist_reason"),
         "officer": r["record"].get("watchlist_officer"), "fingers": int(r["fingers"]),
         "since": str(r["updated_at"])}
        for r in rows
    ]  # fmt: skip


def _insert_template(
    tx: Connection, identity_id: str, pack_id: str, vector: np.ndarray, vault: Any
) -> int:
    """Store one central template (sealed for its person); return its national id."""
    plain = vector.astype("<f4").tobytes()
    aad = aad_for("national_templates", "vector", identity_id)
    row = tx.execute(
        "INSERT INTO national_templates (identity_id, pack_id, vector) VALUES (%s, %s, %s) RETURNING id",
        (identity_id, pack_id, vault.seal(plain, aad) if vault else plain),
    ).fetchone()
    assert row is not None
    return int(row["id"])


def _vector(text: str, index: int, dimension: int) -> np.ndarray:
    """One submitted template, checked for the gallery's length and unit norm."""
    try:
        vector = TemplateIn(template_id=index + 1, vector_f32le_b64=text).vector()
    except ValueError as exc:
        raise RegistryInputInvalid(reason=str(exc), template=index) from exc
    if vector.shape != (dimension,) or abs(float(np.linalg.norm(vector)) - 1.0) > UNIT_TOLERANCE:
        raise RegistryInputInvalid(
            reason=f"template {index} must be a unit vector of {dimension} float32", template=index
        )
    return vector

"""How each kind of change from a site lands in the national tables, inside the batch's transaction.

The written rule for records both sides touch:
- The owning site (the one that enrolled the person, or received them by transfer) owns the
  record's fields and its everyday status (released, banned...). A change about a person that
  another site owns is recorded as `ignored`, with the reason, and changes nothing.
- The registry owns merges and transfers: a person merged centrally stays merged whatever status
  the site sends later (the site learns of the merge from its pull), and a site cannot itself
  mark someone merged.
- A change about a person the registry has never seen is `refused` (recorded with the reason,
  shown in the daily report); it does not block the changes behind it.
Every outcome is written to `applied_changes`, so nothing is silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from enrollment.vault import aad_for
from gallery_sync.partitions import UNIT_TOLERANCE
from gallery_sync.protocol import Change
from registry import photos, watchlist
from registry.db import Connection
from registry.errors import SyncSchemaInvalid
from registry.payloads import (
    EnrolledPayload,
    ErasedPayload,
    FingerPayload,
    PhotoProvidedPayload,
    PhotoUnavailablePayload,
    StatusPayload,
    UpdatedPayload,
)

PROTECTED_FIELDS = frozenset({"id", "role", "status", "merged_into", "origin_site", "version"})


@dataclass(frozen=True)
class Outcome:
    """What became of one change."""

    outcome: Literal["applied", "ignored", "refused"]
    note: str | None = None


@dataclass
class ApplyContext:
    """One batch being applied: who sent it, the gallery's pack, and what the index must follow."""

    site_id: str
    pack_id: str
    dimension: int
    touched: dict[str, list[int]] = field(default_factory=dict)  # identity → new template ids
    vault: Any = None  # registry.vault.RegistryVault: biometrics are stored sealed

    def touch(self, identity_id: str, template_ids: list[int] | None = None) -> None:
        """Remember that the index must follow this person after the commit."""
        self.touched.setdefault(identity_id, []).extend(template_ids or [])


APPLIED = Outcome("applied")


def _owner(tx: Connection, identity_id: str) -> dict[str, Any] | None:
    """The national row of a person (locked for this transaction), or None."""
    return tx.execute(
        "SELECT site_id, status, version, record FROM national_identities WHERE id = %s FOR UPDATE",
        (identity_id,),
    ).fetchone()


def _not_ours(row: dict[str, Any] | None, ctx: ApplyContext) -> Outcome | None:
    """The refusal or ignore-note when this site may not change this person, else None."""
    if row is None:
        return Outcome("refused", "unknown identity")
    if row["site_id"] != ctx.site_id:
        return Outcome("ignored", f"identity is owned by {row['site_id'] or 'the registry'}")
    return None


def apply_enrolled(
    tx: Connection, change: Change, body: EnrolledPayload, ctx: ApplyContext
) -> Outcome:
    """Create or refresh the person, then store the new templates."""
    identity = body.identity
    row = _owner(tx, change.entity_id)
    if identity.status == "merged":
        return Outcome("refused", "a site cannot enrol a merged record")
    if row is None:
        tx.execute(
            "INSERT INTO national_identities (id, site_id, origin_site, role, status, record, version)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (identity.id, ctx.site_id, (identity.model_extra or {}).get("origin_site") or ctx.site_id,
             identity.role, identity.status, Jsonb(identity.model_dump(mode="json")), identity.version),
        )  # fmt: skip
        tx.execute(
            "INSERT INTO identity_holders (identity_id, site_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (identity.id, ctx.site_id),
        )
    elif refusal := _not_ours(row, ctx):
        return refusal
    else:
        _refresh_record(
            tx, change.entity_id, row, identity.model_dump(mode="json"), identity.status
        )
    ctx.touch(change.entity_id, _store_templates(tx, change.entity_id, body, ctx))
    _store_site_decisions(tx, change.entity_id, body, ctx)
    return APPLIED


def _store_site_decisions(
    tx: Connection, identity_id: str, body: EnrolledPayload, ctx: ApplyContext
) -> None:
    """Keep the officer's answers to national candidates; the duplicate case shows them."""
    for d in body.national_decisions:
        if str(d.national_identity_id) == identity_id:
            continue
        tx.execute(
            "INSERT INTO site_duplicate_decisions (identity_id, candidate_id, site_id, decision,"
            " reason, officer, score, threshold, decided_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (identity_id, candidate_id) DO UPDATE SET decision = EXCLUDED.decision,"
            " reason = EXCLUDED.reason, officer = EXCLUDED.officer, score = EXCLUDED.score,"
            " threshold = EXCLUDED.threshold, decided_at = EXCLUDED.decided_at",
            (identity_id, d.national_identity_id, ctx.site_id, d.decision, d.reason, d.officer,
             d.score, d.threshold, d.decided_at),
        )  # fmt: skip


def _refresh_record(
    tx: Connection, identity_id: str, row: dict[str, Any], record: dict[str, Any], status: str
) -> None:
    """A re-enrolment: newer record wins; a central merge is kept."""
    if int(record.get("version") or 1) < row["version"]:
        return
    new_status = row["status"] if row["status"] == "merged" else status
    tx.execute(
        "UPDATE national_identities SET record = %s, status = %s, version = %s, updated_at = now()"
        " WHERE id = %s",
        (Jsonb(record), new_status, int(record.get("version") or 1), identity_id),
    )


def _store_templates(
    tx: Connection, identity_id: str, body: EnrolledPayload, ctx: ApplyContext
) -> list[int]:
    """Insert templates not yet held; return the national ids of the new ones."""
    new_ids = []
    for template in body.templates:
        vector = template.vector()
        if body.pack_id == ctx.pack_id:
            _check_gallery_vector(vector, ctx, template.template_id)
        row = tx.execute(
            "INSERT INTO national_templates (site_id, site_template_id, identity_id, pack_id, vector, quality)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (site_id, site_template_id) DO NOTHING RETURNING id",
            (ctx.site_id, template.template_id, identity_id, body.pack_id,
             seal(ctx, vector.astype("<f4").tobytes(), "national_templates", "vector", identity_id),
             template.quality),
        ).fetchone()  # fmt: skip
        if row is not None:
            new_ids.append(int(row["id"]))
    return new_ids


def seal(ctx: ApplyContext, plain: bytes, table: str, column: str, owner: str) -> bytes:
    """A biometric value sealed for its row (kept as given without a vault: unit tests)."""
    return ctx.vault.seal(plain, aad_for(table, column, owner)) if ctx.vault else plain


def _check_gallery_vector(vector: np.ndarray, ctx: ApplyContext, template_id: int) -> None:
    """A template of the gallery's pack must have its length and unit norm, or the batch is bad."""
    if vector.shape != (ctx.dimension,):
        raise SyncSchemaInvalid.because(
            f"template {template_id}: {vector.shape[0]} values, pack {ctx.pack_id} has {ctx.dimension}"
        )
    if abs(float(np.linalg.norm(vector)) - 1.0) > UNIT_TOLERANCE:
        raise SyncSchemaInvalid.because(f"template {template_id}: vector is not unit length")


def apply_status(tx: Connection, change: Change, body: StatusPayload, ctx: ApplyContext) -> Outcome:
    """The owning site's everyday status; merges stay the registry's."""
    row = _owner(tx, change.entity_id)
    if refusal := _not_ours(row, ctx):
        return refusal
    assert row is not None
    if body.status == "merged" or row["status"] == "merged":
        return Outcome("ignored", "merges are decided by the registry")
    version = max(row["version"], body.version or row["version"])
    tx.execute(  # the record is merged here, not in SQL: the same statement runs on both backends
        "UPDATE national_identities SET status = %s, version = %s, record = %s, updated_at = now()"
        " WHERE id = %s",
        (body.status, version, Jsonb({**row["record"], "status": body.status}), change.entity_id),
    )
    ctx.touch(change.entity_id)
    watchlist.follow_site_status(
        tx, change.entity_id, row, body.status, ctx.site_id, body.reason, body.officer, ctx.vault
    )
    return APPLIED


def apply_updated(
    tx: Connection, change: Change, body: UpdatedPayload, ctx: ApplyContext
) -> Outcome:
    """Corrected plain fields from the owning site (identity keys stay as they are)."""
    row = _owner(tx, change.entity_id)
    if refusal := _not_ours(row, ctx):
        return refusal
    assert row is not None
    fields = {k: v for k, v in body.fields.items() if k not in PROTECTED_FIELDS}
    version = max(row["version"], body.version or row["version"])
    tx.execute(
        "UPDATE national_identities SET record = %s, version = %s, updated_at = now() WHERE id = %s",
        (Jsonb({**row["record"], **fields}), version, change.entity_id),
    )
    return APPLIED


def apply_erased(tx: Connection, change: Change, body: ErasedPayload, ctx: ApplyContext) -> Outcome:
    """The person's face and finger templates go from the registry; record and history stay."""
    row = _owner(tx, change.entity_id)
    if refusal := _not_ours(row, ctx):
        return refusal
    assert row is not None
    watchlist.follow_site_status(  # an erased banned visitor leaves every site's watchlist
        tx, change.entity_id, row, "erased", ctx.site_id, "erased by the site", None, ctx.vault
    )
    tx.execute("DELETE FROM national_templates WHERE identity_id = %s", (change.entity_id,))
    tx.execute("DELETE FROM national_fingers WHERE identity_id = %s", (change.entity_id,))
    photos.forget_photos(tx, change.entity_id)
    if row["status"] != "merged":
        tx.execute(
            "UPDATE national_identities SET status = 'erased', updated_at = now() WHERE id = %s",
            (change.entity_id,),
        )
    ctx.touch(change.entity_id)
    return Outcome("applied", f"the site erased {body.templates} templates")


def apply_finger(tx: Connection, change: Change, body: FingerPayload, ctx: ApplyContext) -> Outcome:
    """Keep the fingerprint record (for transfers and the national search by fingers)."""
    row = _owner(tx, change.entity_id)
    if refusal := _not_ours(row, ctx):
        return refusal
    if body.record() is None:
        return Outcome("ignored", "the site erased this fingerprint before sending it")
    tx.execute(
        "INSERT INTO national_fingers (site_id, site_seq, identity_id, position, impression,"
        " extractor, iso_record, quality) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (site_id, site_seq) DO NOTHING",
        (ctx.site_id, change.seq, change.entity_id, body.position, body.impression,
         body.extractor, seal(ctx, body.record() or b"", "national_fingers", "iso_record",
                              change.entity_id), body.quality),
    )  # fmt: skip
    ctx.touch(change.entity_id)  # the finger index follows, then the record is searched
    return APPLIED


def apply_finger_reextracted(
    tx: Connection, change: Change, body: FingerPayload, ctx: ApplyContext
) -> Outcome:
    """The site made this impression's record again with its new extractor
    (enrollment/reextraction.py): the old row goes and a new one takes its place, under a new id,
    so the finger index drops the old cylinders and indexes the new, and the new record is
    searched nationally like any received record."""
    row = _owner(tx, change.entity_id)
    if refusal := _not_ours(row, ctx):
        return refusal
    if body.record() is None:
        return Outcome("ignored", "the site erased this fingerprint before sending it")
    old = tx.execute(
        "DELETE FROM national_fingers WHERE site_id = %s AND identity_id = %s AND position = %s"
        " AND impression = %s RETURNING id",
        (ctx.site_id, change.entity_id, body.position, body.impression),
    ).fetchall()
    if not old:
        return Outcome("ignored", "no such fingerprint here: erased, or never received")
    return apply_finger(tx, change, body, ctx)


def apply_photo_provided(
    tx: Connection, change: Change, body: PhotoProvidedPayload, ctx: ApplyContext
) -> Outcome:
    """The photo a central officer asked this site for (photos.py keeps it)."""
    outcome, note = photos.store_provided(tx, change.entity_id, ctx.site_id, body, ctx.vault)
    return Outcome(outcome, note)


def apply_photo_unavailable(
    tx: Connection, change: Change, body: PhotoUnavailablePayload, ctx: ApplyContext
) -> Outcome:
    """The site cannot send the photo asked for: the request closes with its reason."""
    outcome, note = photos.store_unavailable(tx, change.entity_id, ctx.site_id, body)
    return Outcome(outcome, note)


def store_event(tx: Connection, change: Change, ctx: ApplyContext) -> Outcome:
    """Gate events and kinds the registry does not interpret: kept as sent, for reports."""
    tx.execute(
        "INSERT INTO site_events (site_id, seq, kind, entity_id, payload, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (ctx.site_id, change.seq, change.kind, change.entity_id, Jsonb(change.payload),
         change.created_at),
    )  # fmt: skip
    return APPLIED


Applier = Callable[[Connection, Change, Any, ApplyContext], Outcome]
APPLIERS: dict[str, Applier] = {
    "identity.enrolled": apply_enrolled,
    "identity.status": apply_status,
    "identity.updated": apply_updated,
    "identity.erased": apply_erased,
    "finger.enrolled": apply_finger,
    "finger.reextracted": apply_finger_reextracted,
    "photo.provided": apply_photo_provided,
    "photo.unavailable": apply_photo_unavailable,
}


def apply_change(
    tx: Connection, change: Change, body: BaseModel | None, ctx: ApplyContext
) -> Outcome:
    """Apply one change by its kind; unknown kinds are stored as events."""
    applier = APPLIERS.get(change.kind)
    return store_event(tx, change, ctx) if applier is None else applier(tx, change, body, ctx)

"""Applying changes pulled from the central registry to the site database: the written conflict rule.

Who decides what
- The registry decides merges and national status: a status it sends replaces the site's, even
  one the site changed since, within the site's per-role rules (enrollment.service
  ALLOWED_STATUSES, plus erasing a visitor), which keep every face where the gate looks for it: an
  inmate is never `banned` (the exit gate searches active inmates), and `merged` and `erased` are
  final. A status outside those rules is skipped with a warning.
- The site owns its own events (gate events, visits, fingerprints, consents): nothing pulled
  touches them.
- Non-status fields (name, aliases, birth date, sex, details) of a record this site originated
  are the site's; for a record another site (or the registry) originated, the registry's copy
  wins. Identity numbers are fixed once stored, as at the desk.

Per kind
- identity.merged {merged_id, survivor_id}: with both here, the merged record becomes merged,
  merged_into = survivor (history and templates kept; the gallery moves them out of every
  partition the gate searches). Without the survivor here, the record keeps its status and gets
  `details.registry_survivor_id`: merged_into is a foreign key, and a person marked merged with no
  survivor here would vanish from the gate's search (an inmate walking out unseen). A merge that
  would take an active inmate out of the inmate search (the survivor here is not one) waits the
  same way. A waiting merge completes when its survivor arrives or either record changes status.
- identity.transferred_in {identity, templates, fingers}: inserted as active, origin site kept,
  templates stored without images (photos do not travel), fingers (ISO/IEC 19794-2 records)
  stored as a watchlist entry's are (site_sync.pulled_fingers), so the gate's inmate alarm finds
  the person by finger and a movement that requires a finger verifies. Already held (a transfer
  back): status becomes active, fields per the rule above, templates and fingers not yet held are
  added (a finger this desk enrolled is the same record at the registry: not stored twice).
- identity.status {identity_id, status}: set when held; `erased` also deletes the biometrics.
- watchlist.added {identity, templates, fingers}: as a transfer in, but a visitor with status
  banned, the partition the gate checks for banned faces; an inmate or staff record held here
  keeps its status. Its fingers (ISO/IEC 19794-2 records) are stored too (site_sync.pulled_fingers),
  so the gate's banned-visitor check finds the person by finger, fused with the face or alone.
- watchlist.removed {identity_id}: a banned visitor this site originated becomes active (consent
  was taken here); one that came from the registry is erased (face and finger templates deleted,
  status erased):
  no consent was taken here, and only the watchlist justified holding that face.
- A ban a site decided comes back as watchlist.added / watchlist.removed with `banned_by_site`:
  the banning site skips both (it holds the record and decided its status). Another site that
  erased the record when an earlier ban was lifted holds it again, banned, when it is banned anew:
  the erasure followed the watchlist, and the watchlist wants the face again.
- photo.requested {request_id, identity_id}: answered with an outbox row, photo.provided or
  photo.unavailable (site_sync.photo_answers); nothing else changes.
- An unknown kind (a newer registry) is skipped with a warning; a malformed payload of a known
  kind refuses the whole page (PulledChangeInvalid), so nothing is half-applied.

Exactly once: the agent applies a page and stores its cursor in one transaction. Applying the
same change again changes nothing (rows are written only when a value differs). No outbox row is
written: these are the registry's facts, not the site's, and must not echo back up. The one
exception is the answer to a photo request, the site's own disclosure, which must travel up.
Every change that changes something writes an audit event (actor `registry`, action `sync.<kind>`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from enrollment.audit import append_event, now_iso
from enrollment.records import Identity
from enrollment.repository import IdentityNotFound, IdentityRepository, vector_to_blob
from enrollment.service import ALLOWED_STATUSES, FINAL_STATUSES
from enrollment.vault import Vault, aad_for
from site_sync.photo_answers import answer_photo_request
from site_sync.pulled import (
    IdentityRef,
    MergeChange,
    PhotoRequest,
    RecordChange,
    RecordIn,
    StatusChange,
    WatchlistChange,
    parse,
)
from site_sync.pulled_fingers import store_fingers
from site_sync.uplink import PulledChange

log = logging.getLogger(__name__)

ACTOR = "registry"
SURVIVOR_KEY = "registry_survivor_id"
IDENTITY_NUMBERS = ("nik", "nip", "registration_number")
REFRESHED_FIELDS = ("full_name", "aliases", "birth_date", "sex", "details")


def _hides_inmate(merged: Identity, survivor: Identity) -> bool:
    """Would merging take the last active-inmate record of this person out of the gate's search?"""
    active_inmate = ("inmate", "active")
    merged_is = (merged.role, merged.status) == active_inmate
    return merged_is and (survivor.role, survivor.status) != active_inmate


def _may_become(held: Identity, status: str) -> bool:
    """The site's own per-role status rules, which keep every face where the gate looks for it."""
    if held.status in FINAL_STATUSES:
        return False
    erasable = {"erased"} if held.role == "visitor" else set()
    return status in ALLOWED_STATUSES[held.role] | erasable


class PulledApplier:
    """Applies pulled changes on a connection inside the caller's transaction."""

    def __init__(self, tx: sqlite3.Connection, vault: Vault, site_id: str) -> None:
        self.tx, self.vault, self.site_id = tx, vault, site_id
        self.repo = IdentityRepository(tx, vault)
        self.affected: set[str] = set()
        self._handlers: dict[str, Callable[[PulledChange], None]] = {
            "identity.merged": self._merged,
            "identity.transferred_in": self._transferred_in,
            "identity.status": self._status,
            "watchlist.added": self._watchlist_added,
            "watchlist.removed": self._watchlist_removed,
            "photo.requested": self._photo_requested,
        }

    def apply(self, change: PulledChange) -> None:
        """Apply one change (or skip an unknown kind, with a warning)."""
        handler = self._handlers.get(change.kind)
        if handler is None:
            log.warning("skipped pulled change %d of unknown kind %r", change.seq, change.kind)
            return
        handler(change)

    # --- kinds --------------------------------------------------------------------------------

    def _merged(self, change: PulledChange) -> None:
        body = parse(MergeChange, change.seq, change.kind, change.payload)
        merged = self._held(body.merged_id)
        if merged is None or merged.status == "erased" or merged.merged_into == body.survivor_id:
            return
        self._merge(change.seq, merged, body.survivor_id)

    def _transferred_in(self, change: PulledChange) -> None:
        body = parse(RecordChange, change.seq, change.kind, change.payload)
        self._upsert(change, body, body.identity.role, "active")

    def _watchlist_added(self, change: PulledChange) -> None:
        body = parse(WatchlistChange, change.seq, change.kind, change.payload)
        if body.banned_by_site == self.site_id:
            return
        held = self._held(body.identity.id)
        if held is not None and held.status == "erased" and held.origin_site != self.site_id:
            self.repo.set_status(held.id, "banned")  # banned anew after a lifted ban erased it
        self._upsert(change, body, "visitor", "banned")

    def _status(self, change: PulledChange) -> None:
        body = parse(StatusChange, change.seq, change.kind, change.payload)
        held = self._held(body.identity_id)
        if held is None or held.status == body.status:
            return
        if not _may_become(held, body.status):
            log.warning("central status %s refused for %s %s (%s)", body.status, held.role, held.id, held.status)  # fmt: skip
            return
        self._set_status(change, held, body.status)
        self._complete_deferred(change.seq, held.id)

    def _watchlist_removed(self, change: PulledChange) -> None:
        body = parse(IdentityRef, change.seq, change.kind, change.payload)
        held = self._held(body.identity_id)
        if body.banned_by_site == self.site_id:
            return
        if held is not None and held.status == "banned":
            status = "active" if held.origin_site == self.site_id else "erased"
            if _may_become(held, status):
                self._set_status(change, held, status)

    def _photo_requested(self, change: PulledChange) -> None:
        body = parse(PhotoRequest, change.seq, change.kind, change.payload)
        answer = answer_photo_request(self.tx, self.vault, body)
        append_event(self.tx, ACTOR, f"sync.{change.kind}", body.identity_id,
                     {"registry_seq": change.seq, "request_id": body.request_id, **answer})  # fmt: skip

    # --- merges -------------------------------------------------------------------------------

    def _merge(self, seq: int, merged: Identity, survivor_id: str) -> None:
        survivor = self._held(survivor_id)
        if survivor is None or _hides_inmate(merged, survivor):
            self._defer_merge(seq, merged, survivor_id, held=survivor is not None)
            return
        self.repo.set_status(merged.id, "merged", survivor_id)
        self._record(seq, "identity.merged", merged.id, {"from": merged.status, "survivor_id": survivor_id})  # fmt: skip

    def _defer_merge(self, seq: int, merged: Identity, survivor_id: str, held: bool) -> None:
        if merged.details.get(SURVIVOR_KEY) == survivor_id:
            return
        self.repo.update_fields(merged.id, {"details": {**merged.details, SURVIVOR_KEY: survivor_id}})  # fmt: skip
        self._record(seq, "merge_deferred", merged.id, {"survivor_id": survivor_id, "survivor_held": held})  # fmt: skip

    def _complete_deferred(self, seq: int, identity_id: str) -> None:
        """Retry the merges waiting on this record: as the survivor, or as the merged one."""
        rows = self.tx.execute(
            "SELECT id, json_extract(details, '$.registry_survivor_id') FROM identities"
            " WHERE status NOT IN ('merged', 'erased') AND (json_extract(details,"
            " '$.registry_survivor_id') = ? OR (id = ? AND json_extract(details,"
            " '$.registry_survivor_id') IS NOT NULL)) ORDER BY id",
            (identity_id, identity_id),
        ).fetchall()
        for merged_id, survivor_id in rows:
            self._merge(seq, self.repo.get(merged_id), survivor_id)

    # --- records ------------------------------------------------------------------------------

    def _upsert(
        self,
        change: PulledChange,
        body: RecordChange,
        role: str,
        status: str,
    ) -> None:
        held = self._held(body.identity.id)
        if held is None:
            conflicts = self._insert(body.identity, role, status)
            added = self._add_templates(body.identity.id, body)
            self._record(change.seq, change.kind, body.identity.id, {
                "inserted": True, "status": status, "origin_site": body.identity.origin_site,
                "templates": added, "fingers": self._add_fingers(body.identity.id, body),
                "number_conflicts": conflicts,
            })  # fmt: skip
        elif held.status != "erased":
            self._update(change, held, body, status)
        self._complete_deferred(change.seq, body.identity.id)

    def _update(
        self,
        change: PulledChange,
        held: Identity,
        body: RecordChange,
        status: str,
    ) -> None:
        if not _may_become(held, status):  # a watchlisted inmate stays in the inmate search
            status = held.status
        if held.status != status:
            self.repo.set_status(held.id, status)
        fields = [] if held.origin_site == self.site_id else self._refresh(held, body.identity)
        added, fingers = self._add_templates(held.id, body), self._add_fingers(held.id, body)
        if held.status != status or fields or added or fingers:
            self._record(change.seq, change.kind, held.id, {
                "inserted": False, "from": held.status, "to": status, "fields": fields,
                "templates": added, "fingers": fingers,
            })  # fmt: skip

    def _insert(self, record: RecordIn, role: str, status: str) -> dict[str, str]:
        """Store a record from the registry; return identity numbers already held by another row.

        Such a number is kept in details (`registry_<number>`) and audited rather than refused:
        refusing would block every later change, and the gate still matches the face.
        """
        numbers, details, conflicts = {}, dict(record.details), {}
        for column in IDENTITY_NUMBERS:
            value = getattr(record, column)
            other = (
                value
                and self.tx.execute(
                    f"SELECT id FROM identities WHERE {column} = ?", (value,)
                ).fetchone()
            )
            numbers[column] = None if other else value
            if other:
                details[f"registry_{column}"], conflicts[column] = value, other[0]
        now = now_iso()
        self.tx.execute(
            "INSERT INTO identities (id, role, status, full_name, aliases, birth_date, sex, nik, nip,"
            " registration_number, details, origin_site, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.id, role, status, record.full_name, json.dumps(record.aliases),
             record.birth_date, record.sex, numbers["nik"], numbers["nip"],
             numbers["registration_number"], json.dumps(details, sort_keys=True, default=str),
             record.origin_site, now, now),
        )  # fmt: skip
        return conflicts

    def _refresh(self, held: Identity, record: RecordIn) -> list[str]:
        """Take the registry's non-status fields for a record another site originated."""
        wanted: dict[str, Any] = {name: getattr(record, name) for name in REFRESHED_FIELDS}
        if SURVIVOR_KEY in held.details:  # a merge waiting here is the site's, not the sender's
            wanted["details"] = {**wanted["details"], SURVIVOR_KEY: held.details[SURVIVOR_KEY]}
        differing = {k: v for k, v in wanted.items() if getattr(held, k) != v}
        self.repo.update_fields(held.id, differing)
        return sorted(differing)

    def _add_templates(self, identity_id: str, body: RecordChange) -> dict[str, int]:
        """Store the templates not yet held (same pack and digest); return how many, per pack."""
        held = {
            (row[0], row[1])
            for row in self.tx.execute(
                "SELECT pack_id, image_sha256 FROM templates WHERE identity_id = ?", (identity_id,)
            )
        }
        added: dict[str, int] = {}
        for pack_id, template in body.by_pack():
            key = (pack_id, template.digest())
            if key in held:
                continue
            self.tx.execute(
                "INSERT INTO templates (identity_id, image_id, image_sha256, pack_id, vector, quality,"
                " captured_at) VALUES (?, NULL, ?, ?, ?, ?, ?)",
                (identity_id, key[1], pack_id,
                 self.vault.seal(vector_to_blob(template.vector()), aad_for("templates", "vector", identity_id)),
                 template.quality or 0.0, now_iso()),
            )  # fmt: skip
            held.add(key)
            added[pack_id] = added.get(pack_id, 0) + 1
        return added

    def _add_fingers(self, identity_id: str, body: RecordChange) -> int:
        """The fingers of a transfer or watchlist entry not yet held; return how many were added."""
        return store_fingers(self.tx, self.vault, identity_id, body.fingers)

    def _set_status(self, change: PulledChange, held: Identity, status: str) -> None:
        self.repo.set_status(held.id, status)
        details: dict[str, Any] = {"from": held.status, "to": status}
        if status == "erased":
            details["templates"], details["images"] = self.repo.erase_biometrics(held.id)
            self.repo.update_fields(held.id, {"photo_image_id": None})
        self._record(change.seq, change.kind, held.id, details)

    # --- helpers ------------------------------------------------------------------------------

    def _held(self, identity_id: str) -> Identity | None:
        try:
            return self.repo.get(identity_id)
        except IdentityNotFound:
            return None

    def _record(self, seq: int, action: str, identity_id: str, details: dict[str, Any]) -> None:
        append_event(
            self.tx, ACTOR, f"sync.{action}", identity_id, {"registry_seq": seq, **details}
        )
        self.affected.add(identity_id)


def apply_changes(
    tx: sqlite3.Connection, vault: Vault, site_id: str, changes: Iterable[PulledChange]
) -> set[str]:
    """Apply pulled changes inside the caller's transaction; return the identities they touched."""
    applier = PulledApplier(tx, vault, site_id)
    for change in changes:
        applier.apply(change)
    return applier.affected

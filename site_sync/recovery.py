"""Rebuilding a site whose disk died: its last backup, plus what the registry holds for it.

The backup brings back everything up to the moment it was taken. What the site enrolled or
changed after that and pushed is at the registry, so `recover` asks it (a signed GET, the
site's own key from the backup) for every person the site owns and for the last outbox seq it
applied from this site, then, in one transaction:

- a person the backup lacks is inserted with the registry's record, status, version, face
  templates and finger records (sealed like any other; fingers as a transfer brings them,
  site_sync/pulled_fingers.py), so the gate finds them by face or finger again. Photos and
  finger images never travel: re-capture them at the desk if an image is needed;
- a person the backup holds at an older version takes the registry's status (within the site's
  own status rules) and fields; an erasure pushed after the backup erases the biometrics again;
- a person the backup holds (not erased or merged) gets the finger records enrolled after the
  backup, whatever the version (a finger does not change the record's version); records the
  backup holds already are not stored twice;
- every outbox row the registry already applied is marked sent and the push cursor moves to its
  seq; the outbox's sequence jumps past it, so the next change the site writes gets a seq the
  registry has never seen. Without this the first new enrolment would reuse a seq the registry
  holds with other content, and sync would stop on `sync_conflict`;
- rows in the backup the registry never received keep their seqs and are pushed as usual.

Central decisions about the site's people (merges, transfers, the watchlist) are in the change
log: the site pulls them again from the cursor in its backup, applying each at most once.
Gate events, visits and audit events written after the backup and not pushed are lost: the
site's audit chain continues from the backup's head, and the recovery itself is one event in it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from enrollment.audit import append_event, now_iso
from enrollment.db import Database
from enrollment.records import Identity
from enrollment.service import ALLOWED_STATUSES, FINAL_STATUSES
from enrollment.vault import Vault
from site_sync import state
from site_sync.apply import PulledApplier
from site_sync.pulled import RecordChange

ACTOR = "recovery"
PAGE = 200


class RecoveredPerson(RecordChange):
    """A person the registry holds for this site: record, templates, status and version."""

    model_config = ConfigDict(extra="ignore")

    status: str
    version: int


class Holdings(BaseModel):
    """Everything the registry gave back: the people and the last seq it applied."""

    last_seq: int
    people: list[RecoveredPerson]


class HoldingsSource(Protocol):
    """The registry client's one call recovery needs."""

    def holdings(self, after: str | None, limit: int) -> dict[str, Any]: ...


@dataclass
class RecoveryReport:
    """What recovery changed, for the console and the audit event."""

    registry_last_seq: int
    restored: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    marked_sent: int = 0
    outbox_next_seq: int = 0


def fetch_holdings(source: HoldingsSource, page: int = PAGE) -> Holdings:
    """Every page of the site's people; nothing is applied until all have arrived."""
    people: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        answer = source.holdings(after, page)
        people += answer["people"]
        after = answer.get("next_after")
        if after is None:
            return Holdings.model_validate({"last_seq": answer["last_seq"], "people": people})


class _Recoverer(PulledApplier):
    """The pulled-change applier's record rules, used for people the registry hands back."""

    def restore(self, person: RecoveredPerson) -> str | None:
        """Insert or bring up to date one person; 'restored', 'updated' or None."""
        held = self._held(person.identity.id)
        if held is None:
            if person.status in ("erased", "merged"):
                return None  # nothing left to restore; a merge comes back through the change log
            self._insert(person.identity, person.identity.role, "active")
            templates = self._add_templates(person.identity.id, person)
            fingers = self._add_fingers(person.identity.id, person)
            self._take_status(person, self.repo.get(person.identity.id))
            self._set_version(person)
            append_event(self.tx, ACTOR, "recovery.identity_restored", person.identity.id,
                         {"status": person.status, "version": person.version,
                          "templates": templates, "fingers": fingers})  # fmt: skip
            return "restored"
        if held.status in FINAL_STATUSES:
            return None
        fingers = self._add_fingers(held.id, person) if person.status != "erased" else 0
        if held.version >= person.version:
            return self._fingers_only(held.id, fingers)
        fields = self._refresh(held, person.identity)
        status = self._take_status(person, held)
        self._set_version(person)
        append_event(self.tx, ACTOR, "recovery.identity_updated", held.id,
                     {"fields": fields, "status": status, "version": person.version,
                      "fingers": fingers})  # fmt: skip
        return "updated"

    def _fingers_only(self, identity_id: str, fingers: int) -> str | None:
        """A person the backup holds up to date but for fingers enrolled after it: 'updated'."""
        if not fingers:
            return None
        append_event(self.tx, ACTOR, "recovery.identity_updated", identity_id, {"fingers": fingers})
        return "updated"

    def _take_status(self, person: RecoveredPerson, held: Identity) -> str:
        """The registry's status when the site's rules allow it (erased also strips biometrics)."""
        wanted = person.status
        allowed = wanted in ALLOWED_STATUSES[held.role] | {"erased"}  # the site's own rules
        if held.status == wanted or not allowed or held.status in FINAL_STATUSES:
            return held.status
        self.repo.set_status(held.id, wanted)
        if wanted == "erased":
            self.repo.erase_biometrics(held.id)
            self.repo.update_fields(held.id, {"photo_image_id": None})
        return wanted

    def _set_version(self, person: RecoveredPerson) -> None:
        """The registry's version: the site's next change to the record must be newer than it."""
        self.tx.execute(
            "UPDATE identities SET version = ? WHERE id = ?", (person.version, person.identity.id)
        )


def apply_holdings(db: Database, vault: Vault, site_id: str, holdings: Holdings) -> RecoveryReport:
    """Restore the people and move the outbox past the registry's seq, in one transaction."""
    report = RecoveryReport(holdings.last_seq)
    with db.transaction() as tx:
        recoverer = _Recoverer(tx, vault, site_id)
        for person in holdings.people:
            outcome = recoverer.restore(person)
            if outcome == "restored":
                report.restored.append(person.identity.id)
            elif outcome == "updated":
                report.updated.append(person.identity.id)
        report.marked_sent, report.outbox_next_seq = _reconcile_outbox(tx, holdings.last_seq)
        append_event(tx, ACTOR, "sync.recovered", site_id, asdict(report))
    return report


def _reconcile_outbox(tx: sqlite3.Connection, registry_seq: int) -> tuple[int, int]:
    """Mark what the registry applied as sent and start the sequence after everything used;
    return (rows marked sent, the seq the next change will get)."""
    marked = tx.execute(
        "UPDATE outbox SET sent_at = ? WHERE seq <= ? AND sent_at IS NULL",
        (now_iso(), registry_seq),
    ).rowcount
    pushed = state.read_int(tx, state.PUSHED)
    state.write(tx, state.PUSHED, max(pushed, registry_seq))
    (local,) = tx.execute("SELECT COALESCE(max(seq), 0) FROM outbox").fetchone()
    row = tx.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    floor = max(registry_seq, int(local), int(row[0]) if row else 0)
    if row is None:
        tx.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (floor,))
    else:
        tx.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (floor,))
    return int(marked), floor + 1

"""The site agent: pushes the site's outbox to the central registry and pulls what concerns it.

Push: outbox rows after `site_state['sync.pushed_through']`, at most `batch_size` per batch and
`max_batch_bytes` of JSON (photos sent on request are large), signed with the site key, carrying
the audit chain head. One batch is encoded once and every retry
sends the same bytes. On 200 the acknowledged seq is stored and those rows get `sent_at`, in one
transaction; `sync_gap` rewinds the cursor to the seq the registry expects; `sync_conflict` stops
pushing (an alarm in `site_state['sync.alarm']`, the log and the audit chain) until an officer
clears it: history is never rewritten. Network errors and 5xx retry with exponential backoff and
full jitter. A change the registry refuses on its own (422/413 naming its seq, or a batch
narrowed by halves down to that one change; or a change heavier than protocol.change_cap) is set aside
as a dead letter (site_sync.dead_letters) and a `sync.withheld` placeholder travels under its
seq, so one poisoned record never halts the site. Everything the agent needs to resume lives in the database, so a restart (a new
agent on the same file) carries on from the stored cursor. A refusal that stops pushing (401: a
revoked or unknown key) and every failed attempt to reach the registry are stored too
(site_sync.problems), for `gerbang sync status`, `/ready`, the metrics and `gerbang doctor`; the
next push the registry answers clears them.

Pull: pages of changes after `site_state['sync.pulled_through']`; each page is applied together
with its cursor in one transaction (site_sync.apply holds the conflict rule), then the gallery
follows for the identities the page touched. A conflict alarm stops pushing, not pulling: the
national watchlist and merges still reach the gate. A pull refused or unreachable is stored like a
push (site_sync.problems) and cleared by the next page the registry answers.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from enrollment.audit import anchor_head, append_event, chain_head, now_iso
from enrollment.db import Database
from enrollment.vault import Vault, open_payload
from gallery_sync.outbox import OutboxRow, drop_delivered_photos, pending
from gallery_sync.protocol import (
    MAX_BATCH_CHANGES,
    Batch,
    ChainHead,
    Change,
    Signer,
    change_cap,
    encode,
    payload_bytes,
)
from kernel.errors import Conflict, GerbangError, Message
from site_sync import dead_letters, problems
from site_sync.apply import apply_changes
from site_sync.problems import Direction
from site_sync.pulled import PulledChangeInvalid
from site_sync.state import (
    ALARM,
    PULL_ERROR,
    PULLED,
    PUSHED,
    forget,
    read,
    read_int,
    read_json,
    write,
)
from site_sync.uplink import (
    REGISTRY_CONFLICT,
    REGISTRY_GAP,
    Backoff,
    ChangePage,
    PulledChange,
    PushAck,
    RegistryUnreachable,
    SyncConflict,
    SyncGap,
    SyncRefused,
    describe,
)

log = logging.getLogger(__name__)
ACTOR = "sync-agent"
T = TypeVar("T")
Applier = Callable[[sqlite3.Connection, Vault, str, Iterable[PulledChange]], set[str]]
# Under the registry's default limits (32 MiB gzip, 64 MiB plain) with room to spare; a photo
# row is at most about 11 MiB (protocol.MAX_PHOTO_BYTES as base64).
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024
# Refusals that may be about one change's content (the registry's schema check, a size cap);
# 401/403 (keys) and everything else stop pushing instead.
ISOLATING_STATUSES = frozenset({413, 422})


class SyncHalted(Conflict):
    code = "sync_halted"
    message = Message(
        "Pengiriman ke registri dihentikan karena konflik riwayat. Hubungi admin pusat, lalu hapus alarm.",
        "Pushing to the registry is stopped by a history conflict. Call the central admin, then clear the alarm.",
    )

    @classmethod
    def by(cls, alarm: dict[str, Any]) -> SyncHalted:
        return cls(None, alarm)


class Registry(Protocol):
    """What the agent needs from the registry (uplink.RegistryClient, or a fake)."""

    def push(self, body: bytes, signature: str) -> PushAck: ...

    def changes(self, after: int, limit: int) -> ChangePage: ...


class GalleryFollower(Protocol):
    """Brings a live gallery in line with the database for some identities."""

    def follow(self, identity_ids: Collection[str]) -> object: ...


@dataclass(frozen=True)
class SyncReport:
    """What one round did; `push_problem` is the code and details that stopped pushing."""

    pushed: int
    pulled: int
    push_problem: dict[str, Any] | None = None


class SiteAgent:
    """Push and pull for one site database; all state in the database's site_state table."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        site_id: str,
        key: Signer,
        registry: Registry,
        follower: GalleryFollower | None = None,
        *,
        batch_size: int = 500,
        max_batch_bytes: int = DEFAULT_BATCH_BYTES,
        pull_limit: int = 500,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        applier: Applier = apply_changes,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_CHANGES:
            raise ValueError(f"batch_size must be in 1..{MAX_BATCH_CHANGES}, got {batch_size}")
        self.db, self.vault, self.site_id, self._key = db, vault, site_id, key
        self.registry, self.follower = registry, follower
        self.batch_size, self.pull_limit = batch_size, pull_limit
        self.max_batch_bytes = max_batch_bytes
        self.backoff, self.max_attempts = backoff or Backoff(), max_attempts
        self._sleep, self._applier = sleep, applier
        self._narrow: int | None = None  # while looking for the one change a batch is refused for

    # --- rounds -------------------------------------------------------------------------------

    def run_once(self) -> SyncReport:
        """Drain the outbox, then pull everything waiting.

        A push the registry refuses (conflict alarm, 401, 422) does not stop the pull: the
        watchlist and merges must still reach the gate. An unreachable registry stops both.
        A refusal is stored (site_sync.problems) until a push is answered again.
        """
        pushed, problem = 0, None
        try:
            pushed = self.push_pending()
        except (SyncHalted, SyncRefused) as exc:
            log.error("push stopped: %s", describe(exc))
            problem = {"code": exc.code, "details": exc.details}
            if isinstance(exc, SyncRefused):  # the conflict alarm is stored already
                self._stopped("push", exc)
        return SyncReport(pushed, self.pull_pending(), problem)

    def run_forever(self, poll_s: float, stop: threading.Event) -> None:
        """Rounds until `stop` is set; a failed round waits a backoff delay and tries again."""
        failures = 0
        while not stop.is_set():
            try:
                report = self.run_once()
                failures = 0
                if report.pushed or report.pulled:
                    log.info("sync: pushed %d, pulled %d", report.pushed, report.pulled)
                wait = poll_s
            except GerbangError as exc:
                log.error("sync round failed: %s", describe(exc))
                wait, failures = max(poll_s, self.backoff.delay(failures)), failures + 1
            stop.wait(wait)

    # --- push ---------------------------------------------------------------------------------

    def push_pending(self) -> int:
        """Push batches until the outbox is drained; return how many changes were acknowledged."""
        total = 0
        try:
            while (acknowledged := self.push_batch()) is not None:
                total += acknowledged
        finally:
            self._narrow = None  # a narrowed search lasts one round at most
        return total

    def push_batch(self) -> int | None:
        """Push the next batch; return how far the cursor moved (None: nothing left to send)."""
        with self.db.reading() as tx:
            alarm = read_json(tx, ALARM)
            cursor = read_int(tx, PUSHED)
            rows = _contiguous(
                pending(tx, cursor, self._narrow or self.batch_size, self.max_batch_bytes)
            )
            # Biometric fields wait sealed in the outbox; they travel opened (TLS, signed batch).
            rows = [
                replace(r, payload=open_payload(self.vault, r.kind, r.entity_id, r.payload))
                for r in rows
            ]
            head = chain_head(tx)
            withheld = dead_letters.withheld(tx, rows[0].seq, rows[-1].seq) if rows else {}
        if alarm is not None:
            raise SyncHalted.by(alarm)
        if not rows:
            return None
        if oversized := _oversized(rows, withheld):  # the registry would refuse it: never send it
            row, size = oversized
            too_large = {"bytes": size, "max_bytes": change_cap(row.kind)}
            return self._set_aside(row, "change_too_large", too_large)
        batch = Batch(
            site_id=self.site_id,
            changes=[_travelling(r, withheld.get(r.seq)) for r in rows],
            audit_head=ChainHead(seq=head[0], hash=head[1]),
            sent_at=now_iso(),
        )
        body, signature = encode(batch, self._key)
        try:
            ack = self._retrying(lambda: self.registry.push(body, signature), "push")
        except SyncGap as gap:
            return self._rewind(cursor, gap.expected_seq)
        except SyncConflict as conflict:
            raise SyncHalted.by(self._raise_alarm(batch, conflict)) from conflict
        except SyncRefused as refusal:
            return self._isolate(refusal, rows, withheld)
        return self._acknowledge(cursor, batch, ack)

    def _isolate(
        self, refusal: SyncRefused, rows: list[OutboxRow], withheld: dict[int, str]
    ) -> int:
        """Find the one change a refused batch is refused for and set it aside; or re-raise."""
        if refusal.details.get("status") not in ISOLATING_STATUSES:
            raise refusal
        named = (refusal.details.get("registry_details") or {}).get("seq")
        by_seq = {r.seq: r for r in rows}
        culprit = by_seq.get(named) if isinstance(named, int) else None
        if culprit is None and len(rows) == 1:
            culprit = rows[0]
        if culprit is None:  # the registry did not say which: halve the batch until it is one
            self._narrow = max(1, len(rows) // 2)
            log.warning("registry refused a batch of %d; narrowing to %d", len(rows), self._narrow)
            return 0
        if culprit.seq in withheld:  # even the placeholder is refused: not about the content
            raise refusal
        return self._set_aside(culprit, str(refusal.details.get("registry_code") or refusal.code),
                               refusal.details)  # fmt: skip

    def _set_aside(self, row: OutboxRow, code: str, reason: dict[str, Any]) -> int:
        with self.db.transaction() as tx:
            if dead_letters.open_count(tx) >= dead_letters.MAX_OPEN:
                raise SyncRefused(status=422, registry_code="too_many_dead_letters",
                                  registry_details={"seq": row.seq, "code": code})  # fmt: skip
            dead_letters.set_aside(tx, row, code, reason, ACTOR)
            problems.clear(tx, "push")  # the registry answered: what stopped pushing is over
        self._narrow = None
        log.error("change %d (%s) set aside, refused: %s %s", row.seq, row.kind, code, reason)
        return 0  # nothing acknowledged; the next batch carries a placeholder in its place

    def _acknowledge(self, cursor: int, batch: Batch, ack: PushAck) -> int:
        through = min(ack.acknowledged_through, batch.last_seq)  # never past what was sent
        if through <= cursor:
            raise SyncRefused(
                status=200,
                registry_code="no_progress",
                registry_details={"cursor": cursor, "ack": ack.acknowledged_through},
            )
        with self.db.transaction() as tx:
            write(tx, PUSHED, through)
            problems.clear(tx, "push")
            # The registry now holds this head: deleting or re-hashing up to it is detectable.
            anchor_head(tx, batch.audit_head.seq, batch.audit_head.hash, "the registry")
            tx.execute(
                "UPDATE outbox SET sent_at = ? WHERE seq > ? AND seq <= ? AND sent_at IS NULL",
                (now_iso(), cursor, through),
            )
            drop_delivered_photos(tx, cursor, through)
        log.info("pushed %d..%d (registry: %s)", batch.first_seq, through, ack)
        return through - cursor

    def _rewind(self, cursor: int, expected_seq: int) -> int:
        """Resend from the seq the registry expects; those rows are no longer acknowledged."""
        if expected_seq < 1 or expected_seq - 1 == cursor:
            raise SyncRefused(
                status=409,
                registry_code=REGISTRY_GAP,
                registry_details={"cursor": cursor, "expected_seq": expected_seq},
            )
        with self.db.transaction() as tx:
            write(tx, PUSHED, expected_seq - 1)
            problems.clear(tx, "push")  # the registry answered; the alarm or the next ack says more
            tx.execute("UPDATE outbox SET sent_at = NULL WHERE seq >= ?", (expected_seq,))
        log.warning(
            "registry expects seq %d: rewound the push cursor from %d", expected_seq, cursor
        )
        return 0  # nothing acknowledged; the next batch starts from the rewound cursor

    def _raise_alarm(self, batch: Batch, conflict: SyncConflict) -> dict[str, Any]:
        alarm = {
            "code": REGISTRY_CONFLICT, "at": now_iso(), "first_seq": batch.first_seq,
            "last_seq": batch.last_seq, "registry_details": conflict.details,
        }  # fmt: skip
        with self.db.transaction() as tx:
            write(tx, ALARM, json.dumps(alarm, sort_keys=True, default=str))
            problems.clear(tx, "push")  # the alarm says why pushing stopped
            append_event(tx, ACTOR, "sync.conflict", self.site_id, alarm)
        log.error("SYNC CONFLICT: pushing stopped, the registry holds other content: %s", alarm)
        return alarm

    # --- pull ---------------------------------------------------------------------------------

    def pull_pending(self) -> int:
        """Apply pages of pulled changes until none are left; return how many were applied."""
        total = 0
        while True:
            applied, full = self.pull_page()
            total += applied
            if not full:
                return total

    def pull_page(self) -> tuple[int, bool]:
        """Apply one page with its cursor in one transaction; (changes applied, page was full)."""
        with self.db.reading() as tx:
            cursor = read_int(tx, PULLED)
        try:
            page = self._retrying(lambda: self.registry.changes(cursor, self.pull_limit), "pull")
            changes = _checked_page(cursor, page)
        except SyncRefused as refusal:
            self._stopped("pull", refusal)
            raise
        if not changes:
            self._answered("pull")
            return 0, False
        try:
            with self.db.transaction() as tx:
                affected = self._applier(tx, self.vault, self.site_id, changes)
                write(tx, PULLED, changes[-1].seq)
                forget(tx, PULL_ERROR)
                problems.clear(tx, "pull")
        except PulledChangeInvalid as exc:  # rolled back: nothing of the page is applied
            with self.db.transaction() as tx:
                write(tx, PULL_ERROR, json.dumps({"at": now_iso(), **exc.details}))
                problems.clear(tx, "pull")  # the registry answered; the page is the problem
            raise
        if self.follower is not None and affected:
            self._follow(affected)
        return len(changes), len(changes) >= self.pull_limit

    def _follow(self, identity_ids: Collection[str]) -> None:
        try:
            self.follower.follow(identity_ids)  # type: ignore[union-attr]
        except Exception:  # the database is right; a gallery check or restart rebuilds it
            log.exception("the gallery could not follow %d pulled identities", len(identity_ids))

    # --- what stopped a direction, and retries ---------------------------------------------------

    def _stopped(self, direction: Direction, error: GerbangError) -> None:
        """Store what stopped pushing or pulling, where status, /ready and doctor read it."""
        with self.db.transaction() as tx:
            problems.record(tx, direction, error, self.site_id)

    def _answered(self, direction: Direction) -> None:
        """The registry answered and the direction goes on: clear a stored problem, if any."""
        with self.db.reading() as tx:
            troubled = read(tx, problems.KEYS[direction])
        if troubled is not None:
            with self.db.transaction() as tx:
                problems.clear(tx, direction)

    def _retrying(self, call: Callable[[], T], direction: Direction) -> T:
        """Call until it does not raise RegistryUnreachable (or max_attempts is reached); each
        failed attempt is stored as the direction's problem."""
        attempt = 0
        while True:
            try:
                return call()
            except RegistryUnreachable as exc:
                self._stopped(direction, exc)
                attempt += 1
                if self.max_attempts is not None and attempt >= self.max_attempts:
                    raise
                delay = self.backoff.delay(attempt - 1)
                log.warning("registry unreachable (%s); retry %d in %.1fs", describe(exc), attempt, delay)  # fmt: skip
                self._sleep(delay)


def _oversized(rows: list[OutboxRow], withheld: dict[int, str]) -> tuple[OutboxRow, int] | None:
    """The first change heavier than any change may be (protocol.change_cap), and its size."""
    for row in rows:
        if row.seq not in withheld and (size := payload_bytes(row.payload)) > change_cap(row.kind):
            return row, size
    return None


def _travelling(row: OutboxRow, withheld_code: str | None) -> Change:
    """The change as it travels: itself, or the placeholder of a change set aside."""
    kind, payload = (row.kind, row.payload)
    if withheld_code is not None:
        kind, payload = dead_letters.placeholder(row, withheld_code)
    return Change(seq=row.seq, kind=kind, entity_id=row.entity_id, payload=payload,
                  created_at=row.created_at)  # fmt: skip


def _contiguous(rows: list[OutboxRow]) -> list[OutboxRow]:
    """The leading run of consecutive seqs (a batch must be contiguous)."""
    for index in range(1, len(rows)):
        if rows[index].seq != rows[index - 1].seq + 1:
            return rows[:index]
    return rows


def _checked_page(cursor: int, page: ChangePage) -> list[PulledChange]:
    """The page's changes, refused unless strictly ascending and after the cursor."""
    seqs = [c.seq for c in page.changes]
    if any(b <= a for a, b in zip([cursor, *seqs], seqs, strict=False)):
        raise SyncRefused(
            status=200,
            registry_code="changes_out_of_order",
            registry_details={"after": cursor, "seqs": seqs[:20]},
        )
    return page.changes

"""A site's batch from bytes to applied rows: verify, classify each change, apply, or quarantine.

Classification per (site, seq): already applied with the same digest (or the digest of the same
change with its biometrics stripped, which a site does to unsent rows when it erases someone) → a
no-op; applied with another digest → the whole batch is refused (`SyncConflict`) and quarantined; the first new seq
must follow the last applied one (`SyncGap` says which is expected). Everything runs inside the
caller's transaction, so a refusal anywhere leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from enrollment.vault import aad_for
from gallery_sync.protocol import (
    Batch,
    Change,
    ProtocolError,
    change_digest,
    parse_batch,
    signed_by,
    unpack,
)
from kernel.errors import GerbangError
from registry.appliers import ApplyContext, apply_change
from registry.db import Connection
from registry.errors import (
    SyncConflict,
    SyncGap,
    SyncSchemaInvalid,
    SyncUnauthenticated,
)
from registry.journal import audit
from registry.payloads import parse_payload, redacted
from registry.site_keys import SiteKeyring

QUARANTINE_MAX_BYTES = 8 * 1024 * 1024  # beyond this only the head of a refused body is kept
QUARANTINE_SITE_BYTES = 64 * 1024 * 1024  # bodies kept per proved site, all refusals together
UNPROVEN_PER_HOUR, UNPROVEN_ALL_PER_HOUR = 20, 500  # refusals recorded from unproved senders


@dataclass(frozen=True)
class BatchReceipt:
    """The answer to a push: everything through `acknowledged_through` is safely stored."""

    acknowledged_through: int
    applied: int
    already_applied: int
    not_applied: list[dict[str, Any]] = field(default_factory=list)  # ignored or refused, why

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return asdict(self)


def verify_batch(
    keyring: SiteKeyring, signature: str, body: bytes, limits: tuple[int, int], grace: timedelta
) -> Batch:
    """The decoded batch if a key the site may use signed it, the schema holds and it names the site.

    limits: (largest compressed body, largest decompressed body) in bytes; grace: how long a
    retired key is still accepted.
    """
    return parse_signed(keyring, authenticate(keyring, signature, body, limits, grace))


def authenticate(
    keyring: SiteKeyring, signature: str, body: bytes, limits: tuple[int, int], grace: timedelta
) -> bytes:
    """The batch's plain bytes once a key the site may use is proved to have signed them.

    Everything refused before this returns came from an unproven sender: its body is not kept.
    """
    max_body, max_plain = limits
    if len(body) > max_body:
        raise SyncSchemaInvalid.because("batch too large")
    try:
        plain = unpack(body, max_plain)
    except ProtocolError as exc:
        raise SyncSchemaInvalid.because(str(exc)) from exc
    keyring.signer(lambda key: signed_by(plain, signature, key), datetime.now(UTC), grace)
    return plain


def parse_signed(keyring: SiteKeyring, plain: bytes) -> Batch:
    """The batch in signed bytes, checked against the schema and the site that signed it."""
    try:
        batch = parse_batch(plain)
    except ProtocolError as exc:
        raise SyncSchemaInvalid.because(str(exc)) from exc
    if batch.site_id != keyring.site_id:
        raise SyncUnauthenticated(reason="the batch names another site", site_id=keyring.site_id)
    return batch


def apply_verified(tx: Connection, batch: Batch, ctx: ApplyContext) -> BatchReceipt:
    """Apply the batch's new changes in order and move the site's cursor; one transaction."""
    row = tx.execute(
        "SELECT last_seq, audit_head FROM sites WHERE id = %s FOR UPDATE", (ctx.site_id,)
    )
    found = row.fetchone()
    if found is None:
        raise SyncUnauthenticated(reason="unknown site", site_id=ctx.site_id)
    last_seq = int(found["last_seq"])
    fresh = _fresh_changes(tx, ctx.site_id, batch, last_seq)
    not_applied = []
    for change, digest in fresh:
        outcome = apply_change(tx, change, parse_payload(change), ctx)
        stripped = redacted(change)
        tx.execute(
            "INSERT INTO applied_changes (site_id, seq, digest, redacted_digest, kind, entity_id,"
            " outcome, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (ctx.site_id, change.seq, digest, stripped and change_digest(stripped), change.kind,
             change.entity_id, outcome.outcome, outcome.note),
        )  # fmt: skip
        if outcome.outcome != "applied":
            not_applied.append({"seq": change.seq, **asdict(outcome)})
    through = max(last_seq, batch.last_seq) if fresh else last_seq
    if fresh:  # what changed the national records, in the registry's own chain
        audit(tx, f"site:{ctx.site_id}", "site.changes_applied", ctx.site_id, {
            "seqs": [fresh[0][0].seq, fresh[-1][0].seq], "site_head": batch.audit_head.model_dump(),
            "digests": hashlib.sha256("".join(d for _, d in fresh).encode()).hexdigest(),
        })  # fmt: skip
    if _head_moves(tx, ctx.site_id, found["audit_head"], batch, bool(fresh)) or fresh:
        tx.execute(
            "UPDATE sites SET last_seq = %s, last_contact = now(), audit_head = %s WHERE id = %s",
            (through, Jsonb(_newer_head(found["audit_head"], batch)), ctx.site_id),
        )
    # else: a replay of an old batch: it neither rewinds the head nor counts as contact.
    return BatchReceipt(through, len(fresh), len(batch.changes) - len(fresh), not_applied)


def _sealed_body(body: bytes, site_id: str, vault: Any) -> bytes:
    """A kept batch body sealed (it holds the batch's templates); empty stays empty."""
    if not body or vault is None:
        return body
    return bytes(vault.seal(body, aad_for("quarantine", "body", site_id or "-")))


def _head_moves(tx: Connection, site_id: str, recorded: Any, batch: Batch, has_fresh: bool) -> bool:
    """True when the batch's signed chain head is ahead of the one recorded; a head behind it
    or beside it (same seq, other hash) in a batch with new changes is audited as an alarm: the
    site's chain was truncated or rewritten since it last pushed."""
    head = batch.audit_head
    if not recorded or head.seq > int(recorded["seq"]):
        return True
    if head.seq == int(recorded["seq"]) and head.hash == recorded["hash"]:
        return False
    if has_fresh:  # new changes under an older head: not a replay
        audit(tx, f"site:{site_id}", "site.audit_head_rewound", site_id,
              {"recorded": recorded, "received": head.model_dump(), "batch_last_seq": batch.last_seq})  # fmt: skip
    return False


def _newer_head(recorded: Any, batch: Batch) -> dict[str, Any]:
    """The head to keep: the batch's only when it is ahead (heads move only forward)."""
    head = batch.audit_head
    if recorded and head.seq <= int(recorded["seq"]):
        return dict(recorded)
    return head.model_dump()


def _fresh_changes(
    tx: Connection, site_id: str, batch: Batch, last_seq: int
) -> list[tuple[Change, str]]:
    """(change, digest) of the changes not applied yet; SyncConflict or SyncGap when unsafe."""
    known = {
        r["seq"]: {r["digest"], r["redacted_digest"]}  # as applied, or as stripped on erasure
        for r in tx.execute(
            "SELECT seq, digest, redacted_digest FROM applied_changes"
            " WHERE site_id = %s AND seq BETWEEN %s AND %s",
            (site_id, batch.first_seq, batch.last_seq),
        )
    }
    digests = [(change, change_digest(change)) for change in batch.changes]
    if conflicts := [c.seq for c, d in digests if c.seq in known and d not in known[c.seq]]:
        raise SyncConflict.at(conflicts)
    fresh = [(c, d) for c, d in digests if c.seq not in known]
    if fresh and fresh[0][0].seq != last_seq + 1:
        raise SyncGap(expected_seq=last_seq + 1, first_seq=fresh[0][0].seq)
    return fresh


def quarantine(
    tx: Connection,
    site_id: str,
    signature: str,
    body: bytes | None,
    error: GerbangError,
    vault: Any = None,
) -> bool:
    """Keep a refused batch, and why, for the report and an administrator; False if not kept.

    `body` is None when the sender was not proved (no valid signature yet): then only the
    reason is kept, and at most UNPROVEN_PER_HOUR such rows per claimed site (and in all), so
    a flood with any `X-Gerbang-Site` header costs the database nothing. A proved site's bodies
    are kept up to QUARANTINE_SITE_BYTES in all; past it, only the reason.
    """
    since = datetime.now(UTC) - timedelta(hours=1)
    if body is None:
        recent = tx.execute(
            "SELECT count(*) AS n, count(*) FILTER (WHERE site_id = %s) AS mine FROM quarantine"
            " WHERE received_at > %s AND length(body) = 0 AND signature = ''",
            (site_id or None, since),
        ).fetchone()
        if recent["mine"] >= UNPROVEN_PER_HOUR or recent["n"] >= UNPROVEN_ALL_PER_HOUR:
            return False
        body, signature = b"", ""
    else:
        held = tx.execute(
            "SELECT coalesce(sum(length(body)), 0) AS bytes FROM quarantine WHERE site_id = %s",
            (site_id,),
        ).fetchone()["bytes"]
        if int(held) + min(len(body), QUARANTINE_MAX_BYTES) > QUARANTINE_SITE_BYTES:
            body = b""
    tx.execute(
        "INSERT INTO quarantine (site_id, reason, detail, signature, body)"
        " VALUES (%s, %s, %s, %s, %s)",
        (site_id or None, error.code, str(error.details)[:2000], signature[:200],
         _sealed_body(body[:QUARANTINE_MAX_BYTES], site_id, vault)),
    )  # fmt: skip
    return True

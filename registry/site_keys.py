"""Which Ed25519 keys a site may sign with, and every change to them, audited.

A site has at most one current key. Rotating (asked by the site, signed with its current key, or
done by a central admin after a revocation) retires the current key: it is still accepted for the
grace window (REGISTRY_KEY_GRACE_SECONDS), so a batch signed just before the switch, or a site
that crashed between the registry's answer and its own switch, still gets through. A revoked key
is refused at once, whatever it signed. A key is never registered twice, by any site, so a
retired or revoked key cannot come back.

A rotation request replayed (or retried after a lost answer) finds its key already current and
changes nothing; one replayed after a later rotation is refused, since only the current key may
ask for a rotation. Times are the registry's clock (Python), written and compared as datetimes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gallery_sync.protocol import public_key_from_text
from registry.db import Connection
from registry.errors import (
    RegistryInputInvalid,
    RegistryNotFound,
    SiteKeyConflict,
    SyncUnauthenticated,
)
from registry.journal import audit

KeyState = Literal["current", "grace", "retired", "revoked"]
ACCEPTED: tuple[KeyState, ...] = ("current", "grace")
_REFUSED_BECAUSE = {"retired": "key retired and its grace window is over", "revoked": "key revoked"}


@dataclass(frozen=True)
class SiteKey:
    """One registered key of a site."""

    public_key: str
    added_at: datetime
    retired_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime, grace: timedelta) -> KeyState:
        """Current, retired but within the grace window, retired for good, or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.retired_at is None:
            return "current"
        return "grace" if self.retired_at > now - grace else "retired"

    def verifier(self) -> Ed25519PublicKey:
        """The key, ready to verify signatures."""
        return public_key_from_text(self.public_key)


@dataclass(frozen=True)
class SiteKeyring:
    """A site's keys as read at one moment, newest first."""

    site_id: str
    keys: tuple[SiteKey, ...]

    @classmethod
    def load(cls, tx: Connection, site_id: str) -> SiteKeyring:
        """The site's keys; SyncUnauthenticated for a site the registry does not know."""
        if tx.execute("SELECT 1 FROM sites WHERE id = %s", (site_id,)).fetchone() is None:
            raise SyncUnauthenticated(reason="unknown site", site_id=site_id)
        rows = tx.execute(
            "SELECT public_key, added_at, retired_at, revoked_at FROM site_keys"
            " WHERE site_id = %s ORDER BY added_at DESC",
            (site_id,),
        ).fetchall()
        return cls(site_id, tuple(SiteKey(**row) for row in rows))

    def signer(
        self, fits: Callable[[Ed25519PublicKey], bool], now: datetime, grace: timedelta
    ) -> SiteKey:
        """The accepted key that made a signature, or SyncUnauthenticated saying why none did."""
        states = {key.public_key: key.state(now, grace) for key in self.keys}
        accepted = [key for key in self.keys if states[key.public_key] in ACCEPTED]
        for key in sorted(accepted, key=lambda k: states[k.public_key] != "current"):
            if fits(key.verifier()):
                return key
        for key in self.keys:  # a refused key that fits: say so, the site's admin needs to know
            if states[key.public_key] not in ACCEPTED and fits(key.verifier()):
                raise SyncUnauthenticated(
                    reason=_REFUSED_BECAUSE[states[key.public_key]], site_id=self.site_id
                )
        raise SyncUnauthenticated(reason="bad signature", site_id=self.site_id)


def checked_key(public_key: str) -> str:
    """The key text if it is a base64 raw Ed25519 public key, else RegistryInputInvalid."""
    try:
        public_key_from_text(public_key)
    except ValueError as exc:  # binascii.Error is one too
        raise RegistryInputInvalid.saying(
            "Ini bukan kunci publik Ed25519 mentah dalam base64 (salin baris yang dicetak"
            " `gerbang sync keygen` di UPT).",
            "This is not a base64 raw Ed25519 public key (copy the line `gerbang sync keygen`"
            " printed at the site).",
        ) from exc
    return public_key


def adopt_registered_keys(tx: Connection) -> int:
    """Give each site registered before site_keys existed its key as the current one."""
    rows = tx.execute(
        "SELECT id, public_key, created_at FROM sites"
        " WHERE NOT EXISTS (SELECT 1 FROM site_keys k WHERE k.site_id = sites.id)"
    ).fetchall()
    for row in rows:
        _insert(tx, row["id"], row["public_key"], row["created_at"])
    return len(rows)


def add_first_key(tx: Connection, site_id: str, public_key: str, now: datetime) -> None:
    """A newly registered site's key, after `refuse_reused` and the site's row (same transaction)."""
    _insert(tx, site_id, public_key, now)


def rotate(
    tx: Connection, site_id: str, signer: str, new_key: str, now: datetime, grace: timedelta
) -> dict[str, Any]:
    """The site's own rotation, already authenticated with `signer`; idempotent per new key."""
    current = _lock_current(tx, site_id)
    if current == new_key:
        return {"site_id": site_id, "public_key": new_key, "status": "unchanged"}
    if signer != current:
        raise SyncUnauthenticated(
            reason="only the current key may rotate the site key", site_id=site_id
        )
    _switch(tx, site_id, current, new_key, now)
    audit(tx, f"site:{site_id}", "site.key_rotated", site_id,
          {"previous_key": current, "public_key": new_key, "grace_until": (now + grace).isoformat()})  # fmt: skip
    return {"site_id": site_id, "public_key": new_key, "status": "rotated",
            "previous_key_accepted_until": (now + grace).isoformat()}  # fmt: skip


def replace(
    tx: Connection, site_id: str, new_key: str, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """A central admin registers a new current key (after a revocation, a lost disk...)."""
    current = _lock_current(tx, site_id)
    _switch(tx, site_id, current, checked_key(new_key), now)
    audit(tx, actor, "site.key_replaced", site_id,
          {"previous_key": current, "public_key": new_key, "reason": reason})  # fmt: skip
    return {"site_id": site_id, "public_key": new_key, "status": "replaced"}


def revoke(
    tx: Connection, site_id: str, public_key: str | None, actor: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Refuse keys from now on: the one named, or by default every key the site still has.

    The default is for a compromised site: its old keys (kept on its disk as backups, maybe in
    their grace window) are as exposed as the current one.
    """
    current = _lock_current(tx, site_id)
    rows = tx.execute(
        "SELECT public_key, retired_at, revoked_at FROM site_keys WHERE site_id = %s", (site_id,)
    ).fetchall()
    if public_key is not None:
        rows = [r for r in rows if r["public_key"] == public_key]
        if not rows:
            raise RegistryNotFound.missing("site key", public_key)
    targets = [r for r in rows if r["revoked_at"] is None]
    if not targets:
        raise SiteKeyConflict(
            reason="no key left to revoke", site_id=site_id, public_key=public_key
        )
    for row in targets:
        tx.execute(
            "UPDATE site_keys SET revoked_at = %s, retired_at = %s WHERE public_key = %s",
            (now, row["retired_at"] or now, row["public_key"]),
        )
    revoked = [r["public_key"] for r in targets]
    audit(tx, actor, "site.key_revoked", site_id,
          {"public_keys": revoked, "current_revoked": current in revoked, "reason": reason})  # fmt: skip
    return {"site_id": site_id, "revoked": revoked, "current_revoked": current in revoked}


def _lock_current(tx: Connection, site_id: str) -> str | None:
    """Lock the site against other key changes; its current key (None after a revocation)."""
    if tx.execute("SELECT 1 FROM sites WHERE id = %s FOR UPDATE", (site_id,)).fetchone() is None:
        raise RegistryNotFound.missing("site", site_id)
    row = tx.execute(
        "SELECT public_key FROM site_keys"
        " WHERE site_id = %s AND retired_at IS NULL AND revoked_at IS NULL",
        (site_id,),
    ).fetchone()
    return None if row is None else str(row["public_key"])


def _switch(tx: Connection, site_id: str, current: str | None, new_key: str, now: datetime) -> None:
    """Retire the current key (if any) and make new_key current."""
    refuse_reused(tx, site_id, new_key)
    if current is not None:
        tx.execute("UPDATE site_keys SET retired_at = %s WHERE public_key = %s", (now, current))
    _insert(tx, site_id, new_key, now)
    tx.execute("UPDATE sites SET public_key = %s WHERE id = %s", (new_key, site_id))


def refuse_reused(tx: Connection, site_id: str, public_key: str) -> None:
    """SiteKeyConflict if any site ever registered this key."""
    known = tx.execute("SELECT 1 FROM site_keys WHERE public_key = %s", (public_key,)).fetchone()
    named = tx.execute("SELECT 1 FROM sites WHERE public_key = %s", (public_key,)).fetchone()
    if known or named:  # which site had it is not said: the asking site may not be that one
        raise SiteKeyConflict(
            reason="this key was registered before; a key is never reused", site_id=site_id
        )


def _insert(tx: Connection, site_id: str, public_key: str, added_at: datetime) -> None:
    tx.execute(
        "INSERT INTO site_keys (public_key, site_id, added_at) VALUES (%s, %s, %s)",
        (public_key, site_id, added_at),
    )

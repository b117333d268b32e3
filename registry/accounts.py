"""Central officers: accounts, login tokens, and the one table of what each role may do.

Passwords use the shared scrypt hashing (`kernel.access`); a login gives a random bearer
token of which only the sha256 is stored. `PERMISSIONS` says which roles hold each permission: a
regional (Kanwil) monitor only reads, and reports limit what it reads to its own region. Which
operation needs which permission is registry/routes/access.py's `ROUTE_PERMISSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from kernel.access import (
    IDLE_TIMEOUT,
    TOKEN_LIFETIME,
    TOUCH_EVERY,
    check_new_password,
    check_password,
    dummy_hash,
    hash_password,
    new_secret,
    secret_digest,
)
from kernel.errors import Unauthenticated
from registry.db import DUPLICATE_KEY_ERRORS, Connection
from registry.errors import RegistryInputInvalid

RegistryRole = Literal["central_admin", "adjudicator", "kanwil_monitor"]
REGISTRY_ROLES: tuple[str, ...] = get_args(RegistryRole)
CENTRAL = frozenset({"central_admin", "adjudicator"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "cases.read": CENTRAL,
    "cases.decide": CENTRAL,
    "transfers.create": frozenset({"central_admin"}),
    "watchlist.add": frozenset({"central_admin"}),
    "watchlist.remove": frozenset({"central_admin"}),
    "sites.admin": frozenset({"central_admin"}),
    "reports.read": CENTRAL | {"kanwil_monitor"},
    # Photos are biometric data: only those who decide cases see them, never a regional monitor.
    "photos.request": CENTRAL,
    "photos.read": CENTRAL,
    "session.end": frozenset(REGISTRY_ROLES),
}


@dataclass(frozen=True)
class Officer:
    """A signed-in central or regional officer."""

    username: str
    role: str
    region: str | None  # set for a kanwil_monitor: the only region it may see


def add_account(
    tx: Connection, username: str, role: str, password: str, region: str | None = None
) -> None:
    """Create an officer account; a kanwil_monitor needs a region, the others must not have one."""
    if role not in REGISTRY_ROLES:
        raise RegistryInputInvalid(reason=f"unknown role {role!r}", roles=list(REGISTRY_ROLES))
    if (role == "kanwil_monitor") != bool(region):
        raise RegistryInputInvalid(reason="a region is given for kanwil_monitor and only for it")
    check_new_password(password, username)
    try:
        tx.execute(
            "INSERT INTO accounts (username, role, region, password_hash) VALUES (%s, %s, %s, %s)",
            (username, role, region or None, hash_password(password)),
        )
    except DUPLICATE_KEY_ERRORS as exc:
        raise RegistryInputInvalid(reason=f"account {username!r} already exists") from exc


def login(tx: Connection, username: str, password: str) -> tuple[str, Officer]:
    """A fresh bearer token for valid credentials; the same refusal for every failure.

    An unknown username is checked against a dummy scrypt hash, so it takes as long as a wrong
    password (it answered in 11 ms against 101 ms before: usernames could be told apart).
    """
    row = tx.execute(
        "SELECT role, region, password_hash, active FROM accounts WHERE username = %s",
        (username,),
    ).fetchone()
    matches = check_password(password, row["password_hash"] if row else dummy_hash())
    if row is None or not row["active"] or not matches:
        raise Unauthenticated.wrong_credentials()
    token, now = new_secret(), datetime.now(UTC)
    tx.execute(
        "INSERT INTO auth_tokens (token_sha256, username, expires_at, last_used_at)"
        " VALUES (%s, %s, %s, %s)",
        (secret_digest(token), username, now + TOKEN_LIFETIME, now),
    )
    return token, Officer(username, row["role"], row["region"])


def logout(tx: Connection, token: str) -> None:
    """End a token's session: it stops working at once, not at its expiry."""
    tx.execute("DELETE FROM auth_tokens WHERE token_sha256 = %s", (secret_digest(token),))


def officer_for_token(tx: Connection, token: str) -> Officer:
    """The officer a live token belongs to (not expired, not idle past IDLE_TIMEOUT)."""
    now = datetime.now(UTC)
    row = tx.execute(
        "SELECT a.username, a.role, a.region, t.last_used_at FROM auth_tokens t"
        " JOIN accounts a ON a.username = t.username"
        " WHERE t.token_sha256 = %s AND t.expires_at > now() AND a.active"
        " AND (t.last_used_at IS NULL OR t.last_used_at > %s)",
        (secret_digest(token), now - IDLE_TIMEOUT),
    ).fetchone()
    if row is None:
        raise Unauthenticated.because("token unknown, expired or idle for too long")
    if row["last_used_at"] is None or row["last_used_at"] < now - TOUCH_EVERY:
        tx.execute(
            "UPDATE auth_tokens SET last_used_at = %s WHERE token_sha256 = %s",
            (now, secret_digest(token)),
        )
    return Officer(row["username"], row["role"], row["region"])

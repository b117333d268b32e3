"""Central officers: accounts, login tokens, and the one table of what each role may do.

Passwords use the shared scrypt hashing (`kernel.access`); a login gives a random bearer
token of which only the sha256 is stored. `PERMISSIONS` says which roles hold each permission: a
regional (Kanwil) monitor only reads, and reports limit what it reads to its own region. Which
operation needs which permission is registry/routes/access.py's `ROUTE_PERMISSIONS`.

Once an account exists, the console lists it, sets a new password, disables and enables it
(`gerbang registry accounts list|passwd|disable|enable`). Sign-in and every request read
`accounts.active` and the token table afresh, so each takes effect at once: a new password or a
disabled account deletes the officer's tokens (enabling it again brings no old token back), and a
new password also lifts a sign-in lock on the account. The registry keeps at least one active
central admin, or nobody could add sites, bans or transfers again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from kernel.access import (
    IDLE_TIMEOUT,
    TOKEN_LIFETIME,
    TOUCH_EVERY,
    account_key,
    check_new_password,
    check_password,
    dummy_hash,
    hash_password,
    new_secret,
    secret_digest,
)
from kernel.errors import Unauthenticated
from registry.db import DUPLICATE_KEY_ERRORS, Connection
from registry.errors import AccountNotFound, LastCentralAdmin, RegistryInputInvalid

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
        raise RegistryInputInvalid.saying(
            f"Peran {role!r} tidak dikenal.", f"Unknown role {role!r}.", roles=list(REGISTRY_ROLES)
        )
    if (role == "kanwil_monitor") != bool(region):
        raise RegistryInputInvalid.saying(
            "Wilayah (--region) diberikan untuk kanwil_monitor, dan hanya untuk peran itu.",
            "A region (--region) is given for kanwil_monitor, and only for it.",
        )
    check_new_password(password, username)
    try:
        tx.execute(
            "INSERT INTO accounts (username, role, region, password_hash) VALUES (%s, %s, %s, %s)",
            (username, role, region or None, hash_password(password)),
        )
    except DUPLICATE_KEY_ERRORS as exc:
        raise RegistryInputInvalid.saying(
            f"Akun {username!r} sudah ada.", f"Account {username!r} already exists."
        ) from exc


@dataclass(frozen=True)
class Account:
    """An officer account as an admin sees it: never the password nor its hash."""

    username: str
    role: str
    region: str | None
    active: bool
    created_at: datetime


def list_accounts(tx: Connection) -> list[Account]:
    """Every account, by username."""
    rows = tx.execute(
        "SELECT username, role, region, active, created_at FROM accounts ORDER BY username"
    ).fetchall()
    return [
        Account(r["username"], r["role"], r["region"], bool(r["active"]), _utc(r["created_at"]))
        for r in rows
    ]


def set_password(tx: Connection, username: str, password: str) -> int:
    """A new password under the rules of a new account; the officer's sessions end and a
    sign-in lock on the account lifts. Return how many sessions ended."""
    account_state(tx, username)
    check_new_password(password, username)
    tx.execute(
        "UPDATE accounts SET password_hash = %s WHERE username = %s",
        (hash_password(password), username),
    )
    tx.execute("DELETE FROM sign_in_failures WHERE key = %s", (account_key(username),))
    return _end_sessions(tx, username)


def set_active(tx: Connection, username: str, active: bool) -> tuple[bool, int]:
    """Enable or disable an account: (whether anything changed, sessions ended). A disabled
    officer's sign-in and tokens are refused at once; the last active central admin stays."""
    role, was_active = account_state(tx, username)
    if was_active == active:
        return False, 0
    if not active and role == "central_admin":
        # Locked: two admins disabling each other at once must not leave none (the second
        # waits, then counts the first one's change).
        admins = tx.execute(
            "SELECT username FROM accounts WHERE role = 'central_admin' AND active FOR UPDATE"
        ).fetchall()
        if not [a for a in admins if a["username"] != username]:
            raise LastCentralAdmin(username=username)
    tx.execute("UPDATE accounts SET active = %s WHERE username = %s", (active, username))
    return True, 0 if active else _end_sessions(tx, username)


def account_state(tx: Connection, username: str) -> tuple[str, bool]:
    """(role, active) of the named account, or AccountNotFound."""
    row = tx.execute(
        "SELECT role, active FROM accounts WHERE username = %s", (username,)
    ).fetchone()
    if row is None:
        raise AccountNotFound(username=username)
    return row["role"], bool(row["active"])


def _end_sessions(tx: Connection, username: str) -> int:
    """Delete the officer's tokens: each is refused from its next request on."""
    return int(tx.execute("DELETE FROM auth_tokens WHERE username = %s", (username,)).rowcount)


def _utc(stamp: datetime | str) -> datetime:
    """A stored time as an aware UTC datetime (PostgreSQL gives one; SQLite, its text)."""
    moment = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


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

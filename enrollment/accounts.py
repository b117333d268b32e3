"""Operator accounts and gate devices at a site: sign-in, login tokens, device keys.

The hashing, token and principal primitives are `kernel.access`, shared with the registry.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from enrollment.audit import append_event, now_iso
from enrollment.db import Database
from kernel.access import (
    IDLE_TIMEOUT,
    TOKEN_LIFETIME,
    TOUCH_EVERY,
    Principal,
    SignInThrottle,
    check_new_password,
    check_password,
    dummy_hash,
    hash_password,
    new_secret,
    secret_digest,
)
from kernel.errors import Conflict, Message, NotFound, Unauthenticated


class AccountExists(Conflict):
    code = "account_exists"
    message = Message(
        "Nama itu sudah dipakai oleh akun atau terminal lain; pilih nama lain.",
        "That name is already used by another account or terminal; choose another name.",
    )


class DeviceNotFound(NotFound):
    code = "device_not_found"
    message = Message(
        "Tidak ada terminal gerbang dengan nama itu; periksa nama yang diberikan ke "
        "`gerbang devices add`.",
        "No gate terminal has that name; check the name given to `gerbang devices add`.",
    )


@dataclass(frozen=True)
class Device:
    """A gate terminal as an admin sees it: never its key nor the key's digest."""

    name: str
    gate_id: str
    active: bool
    created_at: str


OperatorRole = Literal["enrolment_officer", "gate_officer", "supervisor", "site_admin"]
OPERATOR_ROLES: tuple[OperatorRole, ...] = (
    "enrolment_officer",
    "gate_officer",
    "supervisor",
    "site_admin",
)


def sign_in(
    db: Database,
    username: str,
    password: str,
    throttle: SignInThrottle | None = None,
    source: str = "",
) -> tuple[str, Principal, str]:
    """(token, principal, full name) for valid credentials; the same refusal for every failure.

    The scrypt check (about 30 ms) runs outside the database lock, so sign-ins never hold up a
    gate decision, and an unknown user costs the same as a wrong password. With a throttle, a
    locked account or source is refused (429) before any password is checked.
    """
    principal, full_name = check_operator(db, username, password, throttle, source)
    with db.transaction() as tx:
        token = AccountStore(tx).issue_token(principal.id)
    return token, principal, full_name


def check_operator(
    db: Database,
    username: str,
    password: str,
    throttle: SignInThrottle | None = None,
    source: str = "",
) -> tuple[Principal, str]:
    """(principal, full name) for valid credentials, issuing no token (a console command's sign-in).

    The account is throttled under its name and its current password hash: a new password set
    at the console (`gerbang operators passwd`, another process) is a fresh key, so an officer
    locked out by their forgotten password can sign in with the new one at once."""
    with db.reading() as tx:
        row = AccountStore(tx).operator_row(username)
    stored = row["password_hash"] if row else None
    counted = username if stored is None else f"{username}#{secret_digest(stored)[:16]}"
    if throttle is not None:
        throttle.check(counted, source, time.monotonic())
    matches = check_password(password, stored or dummy_hash())
    if row is None or not row["active"] or not matches:
        if throttle is not None:
            throttle.failed(counted, source, time.monotonic())
        raise Unauthenticated.wrong_credentials()
    if throttle is not None:
        throttle.succeeded(counted, source)
    return Principal("operator", row["id"], username, row["role"]), row["full_name"]


def sign_out(db: Database, token: str) -> None:
    """End a login token's session at once (an unknown token is already ended)."""
    with db.transaction() as tx:
        AccountStore(tx).logout(token)


class AccountStore:
    """Operators, tokens and devices, inside the caller's transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def add_operator(
        self, username: str, full_name: str, role: str, password: str, actor: str = "console"
    ) -> str:
        """Create an operator account; audited (who may act at the site is security-relevant)."""
        if role not in OPERATOR_ROLES:
            raise ValueError(f"unknown operator role {role!r}; one of {OPERATOR_ROLES}")
        check_new_password(password, username)
        operator_id = str(uuid.uuid4())
        try:
            self.db.execute(
                "INSERT INTO operators (id, username, full_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (operator_id, username, full_name, role, hash_password(password), now_iso()),
            )
        except sqlite3.IntegrityError as exc:
            raise AccountExists(username=username) from exc
        append_event(self.db, actor, "operator.added", operator_id,
                     {"username": username, "role": role})  # fmt: skip
        return operator_id

    def operator_row(self, username: str) -> sqlite3.Row | None:
        """The account a sign-in names, if any."""
        return self.db.execute(
            "SELECT id, full_name, role, password_hash, active FROM operators WHERE username = ?",
            (username,),
        ).fetchone()

    def issue_token(self, operator_id: str) -> str:
        """A fresh bearer token for a shift; only its sha256 is stored."""
        token, now = new_secret(), datetime.now(UTC)
        self.db.execute(
            "INSERT INTO auth_tokens (token_sha256, operator_id, expires_at, last_used_at)"
            " VALUES (?, ?, ?, ?)",
            (
                secret_digest(token),
                operator_id,
                (now + TOKEN_LIFETIME).isoformat(),
                now.isoformat(),
            ),
        )
        return token

    def operator_for_token(self, token: str) -> Principal:
        """The operator of a live token (not expired, not idle past IDLE_TIMEOUT)."""
        return self.operator_session(token)[0]

    def operator_session(self, token: str) -> tuple[Principal, bool]:
        """(operator, whether the token's last use should be written now: see `touch`)."""
        row = self.db.execute(
            "SELECT o.id, o.username, o.role, o.active, t.expires_at, t.last_used_at"
            " FROM auth_tokens t JOIN operators o ON o.id = t.operator_id WHERE t.token_sha256 = ?",
            (secret_digest(token),),
        ).fetchone()
        now = datetime.now(UTC)
        if row is None or not row["active"] or row["expires_at"] < now.isoformat():
            raise Unauthenticated.because("token unknown or expired")
        last = row["last_used_at"]  # None: a token issued before idle tracking
        if last is not None and last < (now - IDLE_TIMEOUT).isoformat():
            raise Unauthenticated.because("token idle for too long; sign in again")
        due = last is None or last < (now - TOUCH_EVERY).isoformat()
        return Principal("operator", row["id"], row["username"], row["role"]), due

    def touch(self, token: str) -> None:
        """Record that a token was used now (its idle clock restarts)."""
        self.db.execute(
            "UPDATE auth_tokens SET last_used_at = ? WHERE token_sha256 = ?",
            (datetime.now(UTC).isoformat(), secret_digest(token)),
        )

    def logout(self, token: str) -> None:
        self.db.execute("DELETE FROM auth_tokens WHERE token_sha256 = ?", (secret_digest(token),))

    def add_device(self, name: str, gate_id: str, actor: str = "console") -> tuple[str, str]:
        """Register a gate terminal; return (device id, its key — shown once, never stored).
        Audited with the key's digest, never the key."""
        device_id, key = str(uuid.uuid4()), new_secret()
        try:
            self.db.execute(
                "INSERT INTO devices (id, name, gate_id, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (device_id, name, gate_id, secret_digest(key), now_iso()),
            )
        except sqlite3.IntegrityError as exc:
            raise AccountExists(device=name) from exc
        append_event(self.db, actor, "device.added", device_id,
                     {"name": name, "gate_id": gate_id, "key_sha256": secret_digest(key)})  # fmt: skip
        return device_id, key

    def rekey_device(self, name: str, actor: str = "console") -> tuple[str, str]:
        """Give a terminal a new key; the old one is refused from now on. Return (device id, key).
        Audited with the new key's digest, never the key."""
        row = self.db.execute("SELECT id FROM devices WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise DeviceNotFound(device=name)
        key = new_secret()
        self.db.execute(
            "UPDATE devices SET key_hash = ?, active = 1 WHERE id = ?",
            (secret_digest(key), row["id"]),
        )
        append_event(self.db, actor, "device.rekeyed", row["id"],
                     {"name": name, "key_sha256": secret_digest(key)})  # fmt: skip
        return row["id"], key

    def revoke_device(self, name: str, actor: str = "console") -> tuple[str, bool]:
        """Refuse a terminal's key from now on (a lost or stolen kiosk); `rekey` brings it back
        with a new key. Return (device id, whether it was active). Audited."""
        row = self.db.execute("SELECT id, active FROM devices WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise DeviceNotFound(device=name)
        if row["active"]:
            self.db.execute("UPDATE devices SET active = 0 WHERE id = ?", (row["id"],))
            append_event(self.db, actor, "device.revoked", row["id"], {"name": name})
        return row["id"], bool(row["active"])

    def devices(self) -> list[Device]:
        """Every registered terminal, by gate then name."""
        rows = self.db.execute(
            "SELECT name, gate_id, active, created_at FROM devices ORDER BY gate_id, name"
        ).fetchall()
        return [Device(row[0], row[1], bool(row[2]), row[3]) for row in rows]

    def device_for_key(self, key: str) -> Principal:
        row = self.db.execute(
            "SELECT id, name, gate_id, active FROM devices WHERE key_hash = ?",
            (secret_digest(key),),
        ).fetchone()
        if row is None or not row["active"]:
            raise Unauthenticated.device_key_refused()
        return Principal("device", row["id"], row["name"], "device", row["gate_id"])

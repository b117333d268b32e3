"""Operator accounts and gate devices: password hashing (scrypt), login tokens, device keys.

Passwords go through scrypt (memory-hard, in the standard library) with a per-user salt; login
gives a random bearer token whose sha256 alone is stored, so a stolen database opens no session.
Device keys are random 256-bit secrets, so a plain sha256 of them is enough to store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from edge.errors import EdgeError, InputError, Message
from enrollment.audit import now_iso
from enrollment.db import Database

OperatorRole = Literal["enrolment_officer", "gate_officer", "supervisor", "site_admin"]
OPERATOR_ROLES: tuple[OperatorRole, ...] = (
    "enrolment_officer",
    "gate_officer",
    "supervisor",
    "site_admin",
)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10
TOKEN_LIFETIME = timedelta(hours=12)  # one shift


class Unauthenticated(EdgeError):
    code = "unauthenticated"
    status = 401

    @classmethod
    def because(cls, reason: str) -> Unauthenticated:
        return cls(
            Message("Silakan masuk terlebih dahulu.", "Please sign in first."), {"reason": reason}
        )

    @classmethod
    def wrong_credentials(cls) -> Unauthenticated:
        return cls(
            Message("Nama pengguna atau kata sandi salah.", "Wrong username or password."),
            {"reason": "wrong username or password"},
        )


class Forbidden(EdgeError):
    code = "forbidden"
    status = 403

    @classmethod
    def for_action(cls, action: str, role: str) -> Forbidden:
        return cls(
            Message("Peran Anda tidak berwenang untuk tindakan ini.", "Your role may not do this."),
            {"action": action, "role": role},
        )


class WeakPassword(InputError):
    code = "password_weak"

    @classmethod
    def too_short(cls) -> WeakPassword:
        return cls(
            Message(
                f"Kata sandi minimal {MIN_PASSWORD_LENGTH} karakter.",
                f"A password needs at least {MIN_PASSWORD_LENGTH} characters.",
            )
        )


@dataclass(frozen=True)
class Principal:
    """Who is calling: an operator with a role, or a gate device (role 'device')."""

    kind: Literal["operator", "device"]
    id: str
    name: str
    role: str
    gate_id: str | None = None  # a device acts only at the gate it was registered for


def hash_password(password: str) -> str:
    """scrypt$N$r$p$salt$hash, all that is needed to verify later."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword.too_short()
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    encode = base64.b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"
    )


def check_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored scrypt hash."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A real scrypt hash to check unknown usernames against, so they cost the same time."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY_HASH[0]


def sign_in(db: Database, username: str, password: str) -> tuple[str, Principal, str]:
    """(token, principal, full name) for valid credentials; the same refusal for every failure.

    The scrypt check (about 30 ms) runs outside the database lock, so sign-ins never hold up a
    gate decision, and an unknown user costs the same as a wrong password.
    """
    with db.reading() as tx:
        row = AccountStore(tx).operator_row(username)
    matches = check_password(password, row["password_hash"] if row else _dummy_hash())
    if row is None or not row["active"] or not matches:
        raise Unauthenticated.wrong_credentials()
    with db.transaction() as tx:
        token = AccountStore(tx).issue_token(row["id"])
    return token, Principal("operator", row["id"], username, row["role"]), row["full_name"]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class AccountStore:
    """Operators, tokens and devices, inside the caller's transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def add_operator(self, username: str, full_name: str, role: str, password: str) -> str:
        if role not in OPERATOR_ROLES:
            raise ValueError(f"unknown operator role {role!r}; one of {OPERATOR_ROLES}")
        operator_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO operators (id, username, full_name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (operator_id, username, full_name, role, hash_password(password), now_iso()),
        )
        return operator_id

    def operator_row(self, username: str) -> sqlite3.Row | None:
        """The account a sign-in names, if any."""
        return self.db.execute(
            "SELECT id, full_name, role, password_hash, active FROM operators WHERE username = ?",
            (username,),
        ).fetchone()

    def issue_token(self, operator_id: str) -> str:
        """A fresh bearer token for a shift; only its sha256 is stored."""
        token = secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + TOKEN_LIFETIME).isoformat()
        self.db.execute(
            "INSERT INTO auth_tokens VALUES (?, ?, ?)", (_sha256(token), operator_id, expires)
        )
        return token

    def operator_for_token(self, token: str) -> Principal:
        row = self.db.execute(
            "SELECT o.id, o.username, o.role, o.active, t.expires_at FROM auth_tokens t"
            " JOIN operators o ON o.id = t.operator_id WHERE t.token_sha256 = ?",
            (_sha256(token),),
        ).fetchone()
        if row is None or not row["active"] or row["expires_at"] < datetime.now(UTC).isoformat():
            raise Unauthenticated.because("token unknown or expired")
        return Principal("operator", row["id"], row["username"], row["role"])

    def logout(self, token: str) -> None:
        self.db.execute("DELETE FROM auth_tokens WHERE token_sha256 = ?", (_sha256(token),))

    def add_device(self, name: str, gate_id: str) -> tuple[str, str]:
        """Register a gate terminal; return (device id, its key — shown once, never stored)."""
        device_id, key = str(uuid.uuid4()), secrets.token_urlsafe(32)
        self.db.execute(
            "INSERT INTO devices (id, name, gate_id, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (device_id, name, gate_id, _sha256(key), now_iso()),
        )
        return device_id, key

    def device_for_key(self, key: str) -> Principal:
        row = self.db.execute(
            "SELECT id, name, gate_id, active FROM devices WHERE key_hash = ?", (_sha256(key),)
        ).fetchone()
        if row is None or not row["active"]:
            raise Unauthenticated.because("device key unknown or revoked")
        return Principal("device", row["id"], row["name"], "device", row["gate_id"])

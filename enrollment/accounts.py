"""Operator accounts and gate devices at a site: sign-in, login tokens, device keys.

The hashing, token and principal primitives are `kernel.access`, shared with the registry.
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Literal

from enrollment.audit import now_iso
from enrollment.db import Database
from kernel.access import (
    TOKEN_LIFETIME,
    Principal,
    check_password,
    dummy_hash,
    hash_password,
    new_secret,
    secret_digest,
)
from kernel.errors import Unauthenticated

OperatorRole = Literal["enrolment_officer", "gate_officer", "supervisor", "site_admin"]
OPERATOR_ROLES: tuple[OperatorRole, ...] = (
    "enrolment_officer",
    "gate_officer",
    "supervisor",
    "site_admin",
)


def sign_in(db: Database, username: str, password: str) -> tuple[str, Principal, str]:
    """(token, principal, full name) for valid credentials; the same refusal for every failure.

    The scrypt check (about 30 ms) runs outside the database lock, so sign-ins never hold up a
    gate decision, and an unknown user costs the same as a wrong password.
    """
    principal, full_name = check_operator(db, username, password)
    with db.transaction() as tx:
        token = AccountStore(tx).issue_token(principal.id)
    return token, principal, full_name


def check_operator(db: Database, username: str, password: str) -> tuple[Principal, str]:
    """(principal, full name) for valid credentials, issuing no token (a console command's sign-in)."""
    with db.reading() as tx:
        row = AccountStore(tx).operator_row(username)
    matches = check_password(password, row["password_hash"] if row else dummy_hash())
    if row is None or not row["active"] or not matches:
        raise Unauthenticated.wrong_credentials()
    return Principal("operator", row["id"], username, row["role"]), row["full_name"]


def sign_out(db: Database, token: str) -> None:
    """End a login token's session at once (an unknown token is already ended)."""
    with db.transaction() as tx:
        AccountStore(tx).logout(token)


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
        token = new_secret()
        expires = (datetime.now(UTC) + TOKEN_LIFETIME).isoformat()
        self.db.execute(
            "INSERT INTO auth_tokens VALUES (?, ?, ?)", (secret_digest(token), operator_id, expires)
        )
        return token

    def operator_for_token(self, token: str) -> Principal:
        row = self.db.execute(
            "SELECT o.id, o.username, o.role, o.active, t.expires_at FROM auth_tokens t"
            " JOIN operators o ON o.id = t.operator_id WHERE t.token_sha256 = ?",
            (secret_digest(token),),
        ).fetchone()
        if row is None or not row["active"] or row["expires_at"] < datetime.now(UTC).isoformat():
            raise Unauthenticated.because("token unknown or expired")
        return Principal("operator", row["id"], row["username"], row["role"])

    def logout(self, token: str) -> None:
        self.db.execute("DELETE FROM auth_tokens WHERE token_sha256 = ?", (secret_digest(token),))

    def add_device(self, name: str, gate_id: str) -> tuple[str, str]:
        """Register a gate terminal; return (device id, its key — shown once, never stored)."""
        device_id, key = str(uuid.uuid4()), new_secret()
        self.db.execute(
            "INSERT INTO devices (id, name, gate_id, key_hash, created_at) VALUES (?, ?, ?, ?, ?)",
            (device_id, name, gate_id, secret_digest(key), now_iso()),
        )
        return device_id, key

    def device_for_key(self, key: str) -> Principal:
        row = self.db.execute(
            "SELECT id, name, gate_id, active FROM devices WHERE key_hash = ?",
            (secret_digest(key),),
        ).fetchone()
        if row is None or not row["active"]:
            raise Unauthenticated.because("device key unknown or revoked")
        return Principal("device", row["id"], row["name"], "device", row["gate_id"])

"""Looking after officers' accounts once they exist: list them, set a new password, disable, enable.

Sign-in and every request check `operators.active` and the token table afresh
(`enrollment.accounts`), so what is done here takes effect at once: a new password or a disabled
account ends the officer's sessions (their tokens are deleted, so enabling the account again does
not bring an old token back). A site keeps at least one active site admin, or nobody could do
any of this again.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from enrollment.audit import append_event
from kernel.access import check_new_password, hash_password
from kernel.errors import Conflict, Message, NotFound


class OperatorNotFound(NotFound):
    code = "operator_not_found"
    message = Message(
        "Tidak ada akun petugas dengan nama pengguna itu; lihat `gerbang operators list`.",
        "No officer account has that username; see `gerbang operators list`.",
    )


class LastSiteAdmin(Conflict):
    code = "operator_last_site_admin"
    message = Message(
        "Ini admin situs aktif terakhir: buat atau aktifkan admin situs lain dahulu, agar situs"
        " tidak terkunci tanpa admin.",
        "This is the last active site admin: add or enable another site admin first, so the"
        " site is not locked without one.",
    )


@dataclass(frozen=True)
class Operator:
    """An officer account as an admin sees it: never the password nor its hash."""

    username: str
    full_name: str
    role: str
    active: bool
    created_at: str


class OperatorRoster:
    """Officer accounts, inside the caller's transaction; every change is audited."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    def operators(self) -> list[Operator]:
        """Every account, by username."""
        rows = self.db.execute(
            "SELECT username, full_name, role, active, created_at FROM operators ORDER BY username"
        ).fetchall()
        return [Operator(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]

    def set_password(self, username: str, password: str, actor: str) -> int:
        """A new password under the same rules as a new account; every session of the officer
        ends. Return how many sessions ended. Audited without the password or its hash."""
        operator_id, _, _ = self._row(username)
        check_new_password(password, username)
        self.db.execute(
            "UPDATE operators SET password_hash = ? WHERE id = ?",
            (hash_password(password), operator_id),
        )
        ended = self._end_sessions(operator_id)
        append_event(self.db, actor, "operator.password_set", operator_id,
                     {"username": username, "sessions_ended": ended})  # fmt: skip
        return ended

    def set_active(self, username: str, active: bool, actor: str) -> tuple[bool, int]:
        """Enable or disable an account: (whether anything changed, sessions ended). A disabled
        officer's sign-in and tokens are refused at once; the last active site admin stays."""
        operator_id, role, was_active = self._row(username)
        if was_active == active:
            return False, 0
        if not active and role == "site_admin" and self._other_active_admins(operator_id) == 0:
            raise LastSiteAdmin(username=username)
        self.db.execute("UPDATE operators SET active = ? WHERE id = ?", (int(active), operator_id))
        ended = 0 if active else self._end_sessions(operator_id)
        action = "operator.enabled" if active else "operator.disabled"
        append_event(self.db, actor, action, operator_id,
                     {"username": username, "sessions_ended": ended})  # fmt: skip
        return True, ended

    def check_exists(self, username: str) -> None:
        """OperatorNotFound unless the account exists."""
        self._row(username)

    def _row(self, username: str) -> tuple[str, str, bool]:
        """(id, role, active) of the named account, or OperatorNotFound."""
        row = self.db.execute(
            "SELECT id, role, active FROM operators WHERE username = ?", (username,)
        ).fetchone()
        if row is None:
            raise OperatorNotFound(username=username)
        return row[0], row[1], bool(row[2])

    def _other_active_admins(self, operator_id: str) -> int:
        return int(
            self.db.execute(
                "SELECT COUNT(*) FROM operators WHERE role = 'site_admin' AND active = 1 AND id != ?",
                (operator_id,),
            ).fetchone()[0]
        )

    def _end_sessions(self, operator_id: str) -> int:
        """Delete the officer's tokens: each is refused from its next request on."""
        return self.db.execute(
            "DELETE FROM auth_tokens WHERE operator_id = ?", (operator_id,)
        ).rowcount

"""Failed officer sign-ins counted in the registry's database, so every replica behind a load
balancer sees the same count: an attacker gets no extra guesses by landing on another process.

The rules are `kernel.access.SignInThrottle`'s (free failures per account and per source, then
an exponential lock, a success clears both); only the storage differs. Times are wall-clock
seconds since the epoch, since replicas do not share a monotonic clock (keep them on NTP: a
replica's skew lengthens or shortens a lock by as much). Rows of keys that failed long ago and
are no longer locked are deleted as new failures arrive, so the table stays small.
"""

from __future__ import annotations

from typing import Any

from kernel.access import SignInThrottle, SignInThrottled, account_key, source_key
from registry.db import RegistryDatabase

FORGET_AFTER_S = 86_400.0  # a key's failures are forgotten a day after its last one


class SharedSignInThrottle(SignInThrottle):
    """`SignInThrottle` whose counts live in the `sign_in_failures` table."""

    def __init__(self, db: RegistryDatabase, **rules: Any) -> None:
        super().__init__(**rules)
        self.db = db

    def check(self, account: str, source: str, now: float) -> None:
        """SignInThrottled while the account or the source is locked."""
        with self.db.transaction() as tx:
            rows = tx.execute(
                "SELECT locked_until FROM sign_in_failures WHERE key = ANY(%s) AND locked_until > %s",
                ([account_key(account), source_key(source)], now),
            ).fetchall()
        if rows:
            wait = max(float(row["locked_until"]) for row in rows) - now
            raise SignInThrottled(retry_after_s=max(1, round(wait)))

    def failed(self, account: str, source: str, now: float) -> None:
        """Count a failure against both keys (one statement each: replicas may race)."""
        with self.db.transaction() as tx:
            for key, free in ((account_key(account), self.free),
                              (source_key(source), self.source_free)):  # fmt: skip
                row = tx.execute(
                    "INSERT INTO sign_in_failures (key, failures, locked_until, last_failed)"
                    " VALUES (%s, 1, 0, %s) ON CONFLICT (key) DO UPDATE"
                    " SET failures = sign_in_failures.failures + 1, last_failed = excluded.last_failed"
                    " RETURNING failures",
                    (key, now),
                ).fetchone()
                assert row is not None
                if (delay := self.lock_seconds(int(row["failures"]), free)) is not None:
                    tx.execute(
                        "UPDATE sign_in_failures SET locked_until = %s WHERE key = %s",
                        (now + delay, key),
                    )
            tx.execute(
                "DELETE FROM sign_in_failures WHERE last_failed < %s AND locked_until < %s",
                (now - FORGET_AFTER_S, now),
            )

    def succeeded(self, account: str, source: str) -> None:
        """A correct password: the account and the source start afresh."""
        with self.db.transaction() as tx:
            tx.execute(
                "DELETE FROM sign_in_failures WHERE key = ANY(%s)",
                ([account_key(account), source_key(source)],),
            )

    def failures(self, account: str) -> int:
        """Consecutive failures recorded for an account."""
        found = self.db.scalar(
            "SELECT failures FROM sign_in_failures WHERE key = %s", (account_key(account),)
        )
        return int(found or 0)

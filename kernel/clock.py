"""The one clock format both databases use."""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso() -> str:
    """UTC time with microseconds, the one clock format the database uses."""
    return datetime.now(UTC).isoformat(timespec="microseconds")

"""Rows laid out as a console table (`gerbang gate list`, `devices list`, `operators list`,
`registry accounts list`): a header row and columns as wide as their widest cell, so a reader's
eye and `awk` find the same columns."""

from __future__ import annotations

from datetime import UTC, datetime


def table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as lines, each column as wide as its widest cell, two spaces apart."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]  # fmt: skip


def utc_minute(stamp: str) -> str:
    """A stored UTC time to the minute, as a person reads it: 2026-12-07 23:40."""
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%d %H:%M")

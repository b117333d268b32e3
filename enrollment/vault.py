"""The seam where biometric bytes are sealed before they are stored and opened after they are read.

Today the site stores them as they are (`PlainVault`); encryption at rest with a per-site key
will be another `Vault` with the same two methods, so no SQL or use case changes.
"""

from __future__ import annotations

from typing import Protocol


class Vault(Protocol):
    """Seals bytes for storage and opens them again."""

    def seal(self, plain: bytes) -> bytes: ...

    def open(self, sealed: bytes) -> bytes: ...


class PlainVault:
    """No encryption: the bytes are stored as given."""

    def seal(self, plain: bytes) -> bytes:
        return plain

    def open(self, sealed: bytes) -> bytes:
        return sealed

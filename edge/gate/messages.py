"""What the kiosk says for each decision reason (the words live with the sync protocol, which the
registry's daily report shares)."""

from __future__ import annotations

from gallery_sync.gate_reasons import REASONS

__all__ = ["REASONS"]

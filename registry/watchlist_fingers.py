"""Fingers on a national watchlist entry (issue 12): ISO/IEC 19794-2 records an officer submits
beside (or instead of) face templates.

They are checked as the national search will read them (one finger view, its ISO position, enough
minutiae for MCC), then stored in `national_fingers` sealed by the registry vault exactly as a
site's `finger.enrolled` records are (registry/appliers.apply_finger), but owned by no site
(site_id and site_seq NULL, migration 017): the duplicate search by fingers indexes and searches
them like any other (NationalFingers.follow), transfers and exports read them, and removal from
the watchlist deletes them with the face templates. They travel to every site in
`watchlist.added` as `fingers`, the shape transfers use (registry/transfers.fingers_payload).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enrollment.vault import aad_for
from models.fingerprint import iso19794
from models.fingerprint.minutiae import MinutiaeTemplate
from models.fingerprint.quality import FingerQualityRules
from registry.db import Connection
from registry.errors import WatchlistFingerInvalid

MAX_FINGERS = 20
MAX_RECORD_BYTES = 8 * 1024  # one view of at most 255 minutiae is under 1.6 KB
DEFAULT_EXTRACTOR = "iso-19794-2"  # what is known of a record whose extractor is not named
MIN_MINUTIAE = FingerQualityRules().min_minutiae  # the sites' enrolment floor


class WatchlistFinger(BaseModel):
    """One finger of a watchlisted person: an ISO/IEC 19794-2:2005 record and its ISO position."""

    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=1, le=10, description="ISO/IEC 19794-2 finger position code")
    iso_record_b64: str = Field(
        min_length=4,
        max_length=(MAX_RECORD_BYTES + 2) // 3 * 4,
        description="base64 of an ISO/IEC 19794-2:2005 record holding one finger view",
    )
    extractor: str = Field(DEFAULT_EXTRACTOR, min_length=1, max_length=80)
    quality: float | None = Field(None, ge=0, le=100)


@dataclass(frozen=True)
class CheckedFinger:
    """A submitted finger that the national search can read."""

    position: int
    record: bytes
    extractor: str
    quality: float | None


def checked_fingers(fingers: list[WatchlistFinger]) -> list[CheckedFinger]:
    """Every submitted finger checked before anything is stored; the first bad one refused."""
    return [_checked(finger, index) for index, finger in enumerate(fingers)]


def _checked(finger: WatchlistFinger, index: int) -> CheckedFinger:
    try:
        record = base64.b64decode(finger.iso_record_b64, validate=True)
    except binascii.Error as exc:
        raise WatchlistFingerInvalid.because(index, "iso_record_b64 is not base64") from exc
    try:
        views = iso19794.decode(record)
    except ValueError as exc:
        raise WatchlistFingerInvalid.because(index, str(exc)) from exc
    if len(views) != 1:
        raise WatchlistFingerInvalid.because(index, f"the record holds {len(views)} finger views, send one per record")  # fmt: skip
    position, template = views[0]
    if position not in (0, finger.position):  # 0: unknown finger, the position given says
        raise WatchlistFingerInvalid.because(index, f"the record says finger {position}, the entry {finger.position}")  # fmt: skip
    if template.count < MIN_MINUTIAE:
        raise WatchlistFingerInvalid.because(index, f"{template.count} minutiae, at least {MIN_MINUTIAE} needed")  # fmt: skip
    try:
        record = _with_position(record, finger.position, position, template)
    except ValueError as exc:
        raise WatchlistFingerInvalid.because(index, str(exc)) from exc
    return CheckedFinger(finger.position, record, finger.extractor, finger.quality)


def _with_position(record: bytes, wanted: int, stated: int, template: MinutiaeTemplate) -> bytes:
    """The record as given, or re-encoded with its position when it said `unknown` (0): the
    national index and the sites read the position from the record itself. ValueError when the
    view cannot be written back (a quality byte outside 0..100, say)."""
    return record if stated == wanted else iso19794.encode([(wanted, template)])


def insert_fingers(
    tx: Connection, identity_id: str, fingers: list[CheckedFinger], vault: Any
) -> int:
    """Store the entry's fingers, sealed for their person, numbered per position; how many."""
    impressions: dict[int, int] = {}
    for finger in fingers:
        impressions[finger.position] = impressions.get(finger.position, 0) + 1
        aad = aad_for("national_fingers", "iso_record", identity_id)
        tx.execute(
            "INSERT INTO national_fingers (site_id, site_seq, identity_id, position, impression,"
            " extractor, iso_record, quality) VALUES (NULL, NULL, %s, %s, %s, %s, %s, %s)",
            (identity_id, finger.position, impressions[finger.position], finger.extractor,
             vault.seal(finger.record, aad) if vault else finger.record, finger.quality),
        )  # fmt: skip
    return len(fingers)

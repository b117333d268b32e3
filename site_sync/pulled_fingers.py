"""Fingers the registry sends with a person, stored at the site so its gate checks them (issue 12):
a transferred-in inmate's (identity.transferred_in), a national watchlist entry's
(watchlist.added) and a recovered site's people (site_sync/recovery.py).

A finger template at a site hangs on the image it was extracted from (finger_templates.image_id).
The registry sends records, never images, so each gets an image row without image bytes (data
NULL, as an erased image is: nothing can open, export or re-extract it), named by the record's
sha256. A record is held when a live template of the person carries the same bytes, whether it
came this way before or was enrolled at this desk (an inmate transferred back, a site recovered
over its backup: the registry holds the very records the desk pushed), so a change applied again
adds nothing, and a record erased when a ban was lifted is stored again when the person is banned
anew. The template row is sealed as the desk seals one; finger_templates' triggers move the
change counter, so the 1:N index picks it up before the next search
(enrollment/fingers.FingerService.refresh_index): the gate's inmate alarm and banned-visitor
check find the person by finger, fused with the face or alone, and a movement that requires a
finger verifies against them. Erasure (watchlist.removed, identity.status erased) deletes the
templates and leaves the image rows empty, as for any erased person
(enrollment.repository.erase_biometrics).
"""

from __future__ import annotations

import hashlib
import sqlite3

from enrollment.audit import now_iso
from enrollment.keyring import SealBroken
from enrollment.vault import Vault, aad_for
from site_sync.pulled import FingerIn


def store_fingers(
    tx: sqlite3.Connection, vault: Vault, identity_id: str, fingers: list[FingerIn]
) -> int:
    """Store the fingers not yet held for this person; return how many were added."""
    held = _held_records(tx, vault, identity_id)
    added = 0
    for finger in fingers:
        record = finger.record()
        digest = hashlib.sha256(record).hexdigest()
        if digest in held:
            continue
        _insert(tx, vault, identity_id, finger, record, digest)
        held.add(digest)
        added += 1
    return added


def _held_records(tx: sqlite3.Connection, vault: Vault, identity_id: str) -> set[str]:
    """sha256 of the records the person's live templates carry (an erased one is not held)."""
    held = set()
    aad = aad_for("finger_templates", "iso_record", identity_id)
    for digest, sealed in tx.execute(
        "SELECT f.sha256, t.iso_record FROM finger_images f JOIN finger_templates t"
        " ON t.image_id = f.id WHERE f.identity_id = ?",
        (identity_id,),
    ):
        held.add(digest)  # a record pulled before is named by its own digest
        try:
            held.add(hashlib.sha256(vault.open(sealed, aad)).hexdigest())
        except SealBroken:  # a damaged template is not this record; the index logs it
            continue
    return held


def _insert(tx: sqlite3.Connection, vault: Vault, identity_id: str, finger: FingerIn,
            record: bytes, digest: str) -> None:  # fmt: skip
    template, now = finger.template(), now_iso()
    impression = (
        1
        + tx.execute(
            "SELECT COALESCE(MAX(impression), 0) FROM finger_images WHERE identity_id = ? AND position = ?",
            (identity_id, finger.position),
        ).fetchone()[0]
    )
    image_id = tx.execute(
        "INSERT INTO finger_images (identity_id, position, impression, sha256, data, width, height,"
        " resolution_ppi, captured_at) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?)",
        (identity_id, finger.position, impression, digest, template.width, template.height,
         template.resolution_ppi, now),
    ).lastrowid  # fmt: skip
    tx.execute(
        "INSERT INTO finger_templates (image_id, identity_id, position, extractor, iso_record,"
        " minutiae, quality, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (image_id, identity_id, finger.position, finger.extractor,
         vault.seal(record, aad_for("finger_templates", "iso_record", identity_id)),
         template.count, finger.quality or 0.0, now),
    )  # fmt: skip

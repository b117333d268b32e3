"""A national watchlist entry's fingers, stored at the site so its gate checks them (issue 12).

A finger template at a site hangs on the image it was extracted from (finger_templates.image_id).
The registry sends records, never images, so each gets an image row without image bytes (data
NULL, as an erased image is: nothing can open, export or re-extract it), named by the record's
sha256: a change applied again adds nothing, and a record erased when a ban was lifted is stored
again when the person is banned anew. The template row is sealed as the desk seals one;
finger_templates' triggers move the change counter, so the 1:N index picks it up before the next
search (enrollment/fingers.FingerService.refresh_index) and the gate's banned-visitor check finds
the person by finger, fused with the face or alone. Erasure (watchlist.removed) deletes the
templates and leaves the image rows empty, as for any erased person
(enrollment.repository.erase_biometrics).
"""

from __future__ import annotations

import hashlib
import sqlite3

from enrollment.audit import now_iso
from enrollment.vault import Vault, aad_for
from site_sync.pulled import FingerIn


def store_fingers(
    tx: sqlite3.Connection, vault: Vault, identity_id: str, fingers: list[FingerIn]
) -> int:
    """Store the fingers not yet held for this person; return how many were added."""
    held = {  # records with a live template: an erased one (banned anew) is stored again
        row[0]
        for row in tx.execute(
            "SELECT f.sha256 FROM finger_images f JOIN finger_templates t ON t.image_id = f.id"
            " WHERE f.identity_id = ?",
            (identity_id,),
        )
    }
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

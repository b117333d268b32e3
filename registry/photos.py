"""Photos on request: templates travel on their own, a photo only when a central officer asks.

An adjudicator (or central admin) asks for a person's photo; the registry records the request
and queues `photo.requested` for the site that owns the person. The site answers in its own
signed outbox with `photo.provided` (the image, its content type and sha256) or
`photo.unavailable` (why), applied exactly once like every other change (see appliers.py).
One open request per person at a time: asking again while it is open returns it, so an impatient
officer makes no extra traffic on a bad link. A request open for `STALE_AFTER` is closed as
expired when someone asks again, and a new one goes to whoever owns the person now: the site may
have lost it, or the person may have been transferred since; a late answer to it is ignored.
A transfer sends templates, not images, so a receiving site answers `no_image`: the next request
then goes to another site that holds the person (the one that sent them), which kept the images. The owning site's erasure deletes the stored photo.
Every request and every read of a photo is in the audit trail: a photo is biometric data.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from enrollment.vault import aad_for
from registry.db import Connection
from registry.errors import PhotoHeldByNoSite, PhotoNotAvailable, RegistryNotFound
from registry.journal import append_change, audit
from registry.payloads import PhotoProvidedPayload, PhotoUnavailablePayload

_REQUEST_COLUMNS = (
    "id, identity_id, site_id, requested_by, reason, state, note, requested_at, answered_at"
)
ERASED_NOTE = "erased"
NO_IMAGE = "no_image"  # a site's reason when it holds the record but no image of the person
STALE_AFTER = timedelta(hours=72)  # three times the silence that makes a site stand out in reports
EXPIRED_NOTE = "expired: no answer within 72 hours"
Answer = tuple[Literal["applied", "ignored", "refused"], str | None]  # appliers.Outcome's fields


def _as_json(row: dict[str, Any]) -> dict[str, Any]:
    """A row with UUIDs and times as strings (error details are rendered without FastAPI)."""
    return {
        k: str(v) if isinstance(v, uuid.UUID) else v.isoformat() if isinstance(v, datetime) else v
        for k, v in row.items()
    }


def _person(tx: Connection, identity_id: str, lock: bool = False) -> dict[str, Any]:
    """The national row of a person (owning site, status), or RegistryNotFound."""
    try:
        uuid.UUID(identity_id)
    except ValueError:
        raise RegistryNotFound.missing("identity", identity_id) from None
    query = "SELECT site_id, status FROM national_identities WHERE id = %s" + (
        " FOR UPDATE" if lock else ""
    )
    row = tx.execute(query.encode(), (identity_id,)).fetchone()
    if row is None:
        raise RegistryNotFound.missing("identity", identity_id)
    return row


def latest_request(tx: Connection, identity_id: str) -> dict[str, Any] | None:
    """The newest photo request for a person, JSON-ready, or None."""
    row = tx.execute(
        f"SELECT {_REQUEST_COLUMNS} FROM photo_requests WHERE identity_id = %s"
        " ORDER BY id DESC LIMIT 1".encode(),
        (identity_id,),
    ).fetchone()
    return None if row is None else _as_json(row)


def request_photo(
    tx: Connection, identity_id: str, officer: str, reason: str | None
) -> tuple[dict[str, Any], bool]:
    """Ask the owning site for a person's photo; (the request, whether it is new)."""
    person = _person(tx, identity_id, lock=True)  # two officers asking at once make one request
    if person["site_id"] is None:
        raise PhotoHeldByNoSite(identity_id=identity_id)
    latest = latest_request(tx, identity_id)
    if person["status"] == "erased":
        raise PhotoNotAvailable.for_identity(identity_id, latest, ERASED_NOTE)
    if latest is not None and latest["state"] == "requested":
        if datetime.now(UTC) - datetime.fromisoformat(latest["requested_at"]) < STALE_AFTER:
            return latest, False
        tx.execute(
            "UPDATE photo_requests SET state = 'unavailable', note = %s, answered_at = now()"
            " WHERE id = %s AND state = 'requested'",
            (EXPIRED_NOTE, latest["id"]),
        )
    site_id = _site_to_ask(tx, identity_id, person["site_id"], latest)
    row = tx.execute(
        "INSERT INTO photo_requests (identity_id, site_id, requested_by, reason)"
        " VALUES (%s, %s, %s, %s) RETURNING id",
        (identity_id, site_id, officer, reason),
    ).fetchone()
    assert row is not None
    request_id = int(row["id"])
    seq = append_change(tx, site_id, "photo.requested", {
        "request_id": request_id, "identity_id": identity_id,
    })  # fmt: skip
    tx.execute("UPDATE photo_requests SET change_seq = %s WHERE id = %s", (seq, request_id))
    details = {"request_id": request_id, "site_id": site_id, "reason": reason}
    audit(tx, officer, "photo.requested", identity_id, details)
    created = latest_request(tx, identity_id)
    assert created is not None
    return created, True


def _site_to_ask(
    tx: Connection, identity_id: str, owner: str, latest: dict[str, Any] | None
) -> str:
    """The owner, unless it last answered that it holds no image: then the site that has held
    the person longest besides it (a transfer's sender keeps the images it enrolled)."""
    if latest is None or latest["site_id"] != owner or latest["note"] != NO_IMAGE:
        return owner
    other = tx.execute(
        "SELECT site_id FROM identity_holders WHERE identity_id = %s AND site_id <> %s"
        " ORDER BY since, site_id LIMIT 1",
        (identity_id, owner),
    ).fetchone()
    return owner if other is None else str(other["site_id"])


def _photo_aad(identity_id: str) -> bytes:
    return aad_for("national_photos", "image", identity_id)


def read_photo(
    tx: Connection, identity_id: str, officer: str, vault: Any = None
) -> tuple[bytes, str]:
    """(image bytes, content type) of the delivered photo, or PhotoNotAvailable with the state."""
    _person(tx, identity_id)
    row = tx.execute(
        "SELECT request_id, content_type, sha256, image FROM national_photos WHERE identity_id = %s",
        (identity_id,),
    ).fetchone()
    if row is None:
        raise PhotoNotAvailable.for_identity(identity_id, latest_request(tx, identity_id))
    audit(tx, officer, "photo.read", identity_id, {"request_id": row["request_id"], "sha256": row["sha256"]})  # fmt: skip
    image = vault.open_or_plain(row["image"], _photo_aad(identity_id)) if vault else row["image"]
    return bytes(image), str(row["content_type"])


def photo_status(tx: Connection, identity_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per person: is a photo available, and the newest request (None if never asked)."""
    if not identity_ids:
        return {}
    marks = ", ".join(["%s"] * len(identity_ids))
    held = {
        str(r["identity_id"])
        for r in tx.execute(
            f"SELECT identity_id FROM national_photos WHERE identity_id IN ({marks})".encode(),
            tuple(identity_ids),
        )
    }
    status = {}
    for identity_id in identity_ids:
        request = latest_request(tx, identity_id)
        status[identity_id] = {
            "available": identity_id in held,
            "url": f"/v1/identities/{identity_id}/photo" if identity_id in held else None,
            "request": None if request is None else {
                k: request[k] for k in ("id", "state", "note", "requested_at", "answered_at")
            },
        }  # fmt: skip
    return status


# --- answers from the owning site (called by appliers.py inside the batch's transaction) ----------


def _open_request(tx: Connection, request_id: int, identity_id: str, site_id: str) -> Answer | None:
    """None if this site may answer this request now, else the (outcome, note) to record."""
    row = tx.execute(
        "SELECT identity_id, site_id, state FROM photo_requests WHERE id = %s FOR UPDATE",
        (request_id,),
    ).fetchone()
    if row is None or str(row["identity_id"]) != identity_id:
        return "refused", f"no photo request {request_id} for this identity"
    if row["site_id"] != site_id:
        return "ignored", f"photo request {request_id} was sent to {row['site_id']}"
    if row["state"] != "requested":
        return "ignored", f"photo request {request_id} is already {row['state']}"
    return None


def _answer(tx: Connection, request_id: int, state: str, note: str | None) -> None:
    tx.execute(
        "UPDATE photo_requests SET state = %s, note = %s, answered_at = now() WHERE id = %s",
        (state, note, request_id),
    )


def store_provided(
    tx: Connection, identity_id: str, site_id: str, body: PhotoProvidedPayload, vault: Any = None
) -> Answer:
    """Keep the delivered photo and close its request; (outcome, note)."""
    if refusal := _open_request(tx, body.request_id, identity_id, site_id):
        return refusal
    image = body.image()
    if image is None:  # stripped by the site's erasure before the row was pushed
        _answer(tx, body.request_id, "unavailable", ERASED_NOTE)
        return "applied", "the site erased the person before sending the photo"
    if _person(tx, identity_id)["status"] == "erased":
        _answer(tx, body.request_id, "unavailable", ERASED_NOTE)
        return "ignored", "the person is erased here"
    tx.execute(
        "INSERT INTO national_photos (identity_id, request_id, site_id, content_type, sha256, image,"
        " source) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (identity_id) DO UPDATE SET"
        " request_id = excluded.request_id, site_id = excluded.site_id,"
        " content_type = excluded.content_type, sha256 = excluded.sha256, image = excluded.image,"
        " source = excluded.source, received_at = now()",
        (
            identity_id,
            body.request_id,
            site_id,
            body.content_type,
            body.sha256,
            vault.seal(image, _photo_aad(identity_id)) if vault else image,
            body.source,
        ),
    )
    _answer(tx, body.request_id, "delivered", None)
    return "applied", None


def store_unavailable(
    tx: Connection, identity_id: str, site_id: str, body: PhotoUnavailablePayload
) -> Answer:
    """Close the request with the site's reason; (outcome, note)."""
    if refusal := _open_request(tx, body.request_id, identity_id, site_id):
        return refusal
    _answer(tx, body.request_id, "unavailable", body.reason)
    return "applied", body.reason


def forget_photos(tx: Connection, identity_id: str) -> int:
    """On erasure: delete the person's stored photo and close its requests; return photos deleted."""
    deleted = tx.execute(
        "DELETE FROM national_photos WHERE identity_id = %s", (identity_id,)
    ).rowcount
    tx.execute(  # a delivered photo is gone too: its request now reads unavailable, erased
        "UPDATE photo_requests SET state = 'unavailable', note = %s,"
        " answered_at = COALESCE(answered_at, now()) WHERE identity_id = %s AND state <> 'unavailable'",
        (ERASED_NOTE, identity_id),
    )
    return deleted

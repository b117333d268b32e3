"""Transfers (mutasi): an inmate's record and templates go to the receiving site before arrival,
and the sending site is told to mark them transferred-out.

The receiving site becomes the owner of the record (its later changes are the ones applied);
the sending site stays a holder, so later merges still reach it.
"""

from __future__ import annotations

import base64
from typing import Any

from enrollment.vault import aad_for
from registry.db import Connection
from registry.errors import RegistryInputInvalid, RegistryNotFound
from registry.journal import append_change, audit


def transfer(
    tx: Connection, identity_id: str, to_site: str, officer: str, reason: str, vault: Any = None
) -> dict[str, Any]:
    """Move an active inmate to another site; return the change seqs sent to both sites."""
    person = _transferable(tx, identity_id, to_site)
    from_site = person["site_id"]
    tx.execute(
        "UPDATE national_identities SET site_id = %s, updated_at = now() WHERE id = %s",
        (to_site, identity_id),
    )
    tx.execute(
        "INSERT INTO identity_holders (identity_id, site_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (identity_id, to_site),
    )
    incoming = {"identity": person["record"], "from_site": from_site, "reason": reason,
                "templates": templates_payload(tx, identity_id, vault),
                "fingers": fingers_payload(tx, identity_id, vault)}  # fmt: skip
    seq_in = append_change(tx, to_site, "identity.transferred_in", incoming, vault)
    seq_out = append_change(tx, from_site, "identity.status", {
        "identity_id": identity_id, "status": "transferred_out", "to_site": to_site, "reason": reason,
    })  # fmt: skip
    details = {"from_site": from_site, "to_site": to_site, "reason": reason}
    audit(tx, officer, "identity.transferred", identity_id, details)
    return {"identity_id": identity_id, **details, "change_seqs": [seq_in, seq_out]}


def _transferable(tx: Connection, identity_id: str, to_site: str) -> dict[str, Any]:
    """The person's row, or the reason a transfer to this site is refused."""
    person = tx.execute(
        "SELECT site_id, role, status, record FROM national_identities WHERE id = %s FOR UPDATE",
        (identity_id,),
    ).fetchone()
    if person is None:
        raise RegistryNotFound.missing("identity", identity_id)
    if tx.execute("SELECT 1 FROM sites WHERE id = %s", (to_site,)).fetchone() is None:
        raise RegistryNotFound.missing("site", to_site)
    if person["role"] != "inmate" or person["status"] != "active":
        raise RegistryInputInvalid.saying(
            "Hanya warga binaan aktif yang dapat dipindahkan.",
            "Only an active inmate can be transferred.",
            role=person["role"],
            status=person["status"],
        )
    if person["site_id"] in (to_site, None):
        raise RegistryInputInvalid.saying(
            "Warga binaan ini tidak ditahan di UPT lain.",
            "The inmate is not held by another site.",
            site=to_site,
        )
    return person


def templates_payload(tx: Connection, identity_id: str, vault: Any) -> list[dict[str, Any]]:
    """A person's face templates as they travel: national id, pack, quality, base64 float32 LE."""
    rows = tx.execute(
        "SELECT id, pack_id, quality, vector FROM national_templates WHERE identity_id = %s ORDER BY id",
        (identity_id,),
    ).fetchall()
    return [
        {"template_id": r["id"], "pack_id": r["pack_id"], "quality": r["quality"],
         "vector_f32le_b64": base64.b64encode(_opened(vault, r["vector"], "national_templates",
                                                     "vector", identity_id)).decode()}
        for r in rows
    ]  # fmt: skip


def _opened(vault: Any, value: Any, table: str, column: str, owner: str) -> bytes:
    """A stored biometric, opened (as it is without a vault, or when not sealed yet)."""
    return vault.open_or_plain(value, aad_for(table, column, owner)) if vault else bytes(value)


def fingers_payload(tx: Connection, identity_id: str, vault: Any) -> list[dict[str, Any]]:
    """A person's fingerprint records as they travel (transfers, watchlist entries): position,
    impression, extractor, quality, base64 ISO/IEC 19794-2 record."""
    rows = tx.execute(
        "SELECT position, impression, extractor, quality, iso_record FROM national_fingers"
        " WHERE identity_id = %s ORDER BY id",
        (identity_id,),
    ).fetchall()
    return [
        {"position": r["position"], "impression": r["impression"], "extractor": r["extractor"],
         "quality": r["quality"], "iso_record_b64": base64.b64encode(
             _opened(vault, r["iso_record"], "national_fingers", "iso_record", identity_id)).decode()}
        for r in rows
    ]  # fmt: skip

"""The sites the registry knows, as use cases free of HTTP: registering a site, proving who sent
a signed request, and every change to a site's keys (storage and rules in site_keys.py).

Key changes do not touch the national gallery, so they run outside the registry's write lock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from gallery_sync.protocol import signed_by
from gallery_sync.signed_requests import request_message
from registry import site_keys
from registry.db import RegistryDatabase
from registry.errors import RegistryInputInvalid
from registry.journal import audit
from registry.settings import RegistrySettings
from registry.site_auth import check_fresh, parse_rotation
from registry.site_keys import SiteKey, SiteKeyring

MAX_KEY_REQUEST_BYTES = 4096  # a rotation request is a key and a signature: ~200 bytes


class SiteDirectory:
    """Sites and their keys in the registry database."""

    def __init__(self, db: RegistryDatabase, settings: RegistrySettings) -> None:
        self.db, self.settings = db, settings

    @property
    def grace(self) -> timedelta:
        """How long a key retired by a rotation is still accepted."""
        return timedelta(seconds=self.settings.key_grace_seconds)

    def adopt_registered_keys(self) -> int:
        """Sites registered before site_keys existed get their key as the current one."""
        with self.db.transaction() as tx:
            return site_keys.adopt_registered_keys(tx)

    def add(self, site_id: str, name: str, region: str, public_key: str, actor: str) -> None:
        """Register a site and the public key its batches are signed with."""
        site_keys.checked_key(public_key)
        with self.db.transaction() as tx:
            if tx.execute("SELECT 1 FROM sites WHERE id = %s", (site_id,)).fetchone():
                raise RegistryInputInvalid.saying(
                    f"UPT {site_id} sudah terdaftar.", f"Site {site_id} is already registered."
                )
            site_keys.refuse_reused(tx, site_id, public_key)
            tx.execute(
                "INSERT INTO sites (id, name, region, public_key) VALUES (%s, %s, %s, %s)",
                (site_id, name, region, public_key),
            )
            site_keys.add_first_key(tx, site_id, public_key, datetime.now(UTC))
            audit(tx, actor, "site.added", site_id, {"name": name, "region": region})

    def keyring(self, site_id: str) -> SiteKeyring:
        """The site's keys; SyncUnauthenticated for an unknown site."""
        with self.db.transaction() as tx:
            return SiteKeyring.load(tx, site_id)

    def authenticate_request(
        self,
        site_id: str,
        method: str,
        path_with_query: str,
        timestamp: str,
        signature: str,
        body: bytes = b"",
    ) -> SiteKey:
        """The key that signed this request just now; SyncUnauthenticated otherwise."""
        skew = timedelta(seconds=self.settings.clock_skew_seconds)
        keyring = self.keyring(site_id)
        check_fresh(site_id, timestamp, skew)
        message = request_message(method, path_with_query, timestamp, body)
        return keyring.signer(
            lambda key: signed_by(message, signature, key), datetime.now(UTC), self.grace
        )

    def rotate_key(
        self, site_id: str, path: str, timestamp: str, signature: str, body: bytes
    ) -> dict[str, Any]:
        """The site's new key, asked for in a request signed with its current key."""
        if len(body) > MAX_KEY_REQUEST_BYTES:
            raise RegistryInputInvalid(reason="a key rotation request is a few hundred bytes")
        signer = self.authenticate_request(site_id, "POST", path, timestamp, signature, body)
        request = parse_rotation(body, site_id, timestamp)
        with self.db.transaction() as tx:
            return site_keys.rotate(
                tx, site_id, signer.public_key, request.public_key, datetime.now(UTC), self.grace
            )

    def replace_key(self, site_id: str, public_key: str, actor: str, reason: str) -> dict[str, Any]:
        """A central admin registers a site's new key (when the site cannot rotate it itself)."""
        with self.db.transaction() as tx:
            return site_keys.replace(tx, site_id, public_key, actor, reason, datetime.now(UTC))

    def revoke_key(
        self, site_id: str, public_key: str | None, actor: str, reason: str
    ) -> dict[str, Any]:
        """Refuse a site's key (by default every key it still has) from now on."""
        with self.db.transaction() as tx:
            return site_keys.revoke(tx, site_id, public_key, actor, reason, datetime.now(UTC))

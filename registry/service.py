"""The registry's use cases, free of HTTP: apply a site's batch exactly once, serve its pull,
and the central officers' decisions (duplicate cases, transfers, watchlist, reports).

Writes that move the national gallery run one at a time (`GalleryFollower.writing`): a batch commits
with its rows in the gallery feed, then the index follows the feed and the new templates are
searched. If the index cannot follow (the database vanished just after the commit), it is marked
stale and rebuilt before the next write; the commit stands, and the searches still pending are
found by `searched_at`.

Replicas: several registry processes may share one database behind a load balancer. Each keeps
its own index, following the feed (its own commits at once, the others' within
`feed_poll_seconds`, read by a background thread); failed sign-ins are counted in the database
(registry/sign_in_store.py). Everything else a request needs is already read from the database.

Officers' roles are checked once, before a use case runs, by the route policy
(registry/routes/access.py); the use cases take the officer for the audit trail and scope a
regional monitor's reads to its region.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import Any

import numpy as np
from pydantic import ValidationError

from gallery_sync.protocol import MAX_PHOTO_BYTES
from httpkit.limits import BodyLimits
from kernel.errors import GerbangError, Unauthenticated
from registry import (
    accounts,
    cases,
    gallery_feed,
    intake,
    photos,
    recovery,
    reports,
    search,
    transfers,
    watchlist,
)
from registry.appliers import ApplyContext
from registry.audit_chain import AuditChainReport, verify_audit_chain
from registry.audit_checkpoints import (
    CheckpointReport,
    audit_key,
    make_checkpoint,
    stored_checkpoints,
    verify_checkpoints,
)
from registry.db import open_database
from registry.errors import (
    NationalSearchUnavailable,
    RegistryInputInvalid,
    RegistryNotFound,
    SyncConflict,
    SyncSchemaInvalid,
    SyncUnauthenticated,
)
from registry.gallery_follower import GalleryFollower
from registry.intake import BatchReceipt
from registry.journal import audit, changes_after
from registry.national import MatchPolicy, NationalGallery
from registry.national_fingers import FingerPolicy, NationalFingers
from registry.resealing import reseal_existing
from registry.settings import RegistrySettings
from registry.sign_in_store import SharedSignInThrottle
from registry.site_directory import SiteDirectory
from registry.vault import RegistryVault
from registry.watchlist_finger_images import (
    MAX_FINGER_IMAGE_BYTES,
    MAX_FINGER_IMAGES,
    FingerImage,
    WatchlistFingerImages,
)
from registry.watchlist_photos import MAX_PHOTOS, WatchlistPhotos

log = logging.getLogger(__name__)
REPORT_PERIOD = timedelta(days=1)


class RegistryService:
    """The central registry, built once from its settings."""

    def __init__(self, settings: RegistrySettings, policy: MatchPolicy | None = None) -> None:
        self.settings = settings
        self.db = open_database(settings.database_url)
        self.policy = policy or MatchPolicy.for_pack(
            settings.pack,
            settings.identify_fmr,
            settings.calibration_file,
            settings.duplicate_fpir,
            settings.open_set_min_people,
        )
        self.vault = RegistryVault(self.db, settings.key)
        fingers = None
        if settings.finger_duplicate_fpir is not None:
            finger_policy = FingerPolicy.load(
                settings.finger_duplicate_fpir,
                settings.finger_calibration_file,
                settings.finger_extractor,
            )
            fingers = NationalFingers(
                finger_policy, self.db, self.vault, settings.finger_min_people
            )
        self.gallery = NationalGallery(
            self.policy, settings.national_exact_limit, self.vault, fingers
        )
        self.sites = SiteDirectory(self.db, settings)
        self.watchlist_photos = WatchlistPhotos(
            settings.model_dir, settings.model_cache_dir, self.policy.pack_id
        )
        self.watchlist_finger_images = WatchlistFingerImages(
            settings.finger_extractor, settings.model_dir, settings.model_cache_dir
        )
        self.sign_ins = SharedSignInThrottle(self.db)  # per account and source, every replica
        self.follower = GalleryFollower(self.db, self.gallery, settings.feed_poll_seconds)

    def start(self) -> None:
        """Migrate, rebuild the national gallery from the database, run any pending search."""
        self.db.migrate()
        self.vault.ready()  # before any transaction: the first start creates the data key
        reseal_existing(self.db, self.vault)  # rows written before encryption, resumable
        self.sites.adopt_registered_keys()
        self.follower.start()  # rebuilds the index, fits its tails, runs pending searches

    def follow_replicas(self) -> None:
        """Apply other replicas' commits in the background until `stop` (the app does this)."""
        self.follower.start_polling()

    def stop(self) -> None:
        """Stop following the gallery feed (the app's shutdown)."""
        self.follower.stop()

    def body_limits(self) -> BodyLimits:
        """Request body caps: a sync batch up to its setting, anything else small."""
        json_bytes = self.settings.max_json_bytes
        batches = ("POST", "/v1/sync/batches", self.settings.max_batch_bytes)
        images = MAX_PHOTOS * MAX_PHOTO_BYTES + MAX_FINGER_IMAGES * MAX_FINGER_IMAGE_BYTES
        photos = ("POST", "/v1/watchlist/photos", images + 64 * 1024)
        return BodyLimits(json_bytes, json_bytes, (batches, photos))

    # --- sites ---------------------------------------------------------------------------

    def add_site(self, site_id: str, name: str, region: str, public_key: str, actor: str) -> None:
        """Register a site and the public key its batches are signed with."""
        self.sites.add(site_id, name, region, public_key, actor)

    def replace_site_key(
        self, site_id: str, public_key: str, actor: str, reason: str
    ) -> dict[str, Any]:
        """Register a site's new key in place of its current one (after a revocation)."""
        return self.sites.replace_key(site_id, public_key, actor, reason)

    def revoke_site_key(
        self, site_id: str, public_key: str | None, actor: str, reason: str
    ) -> dict[str, Any]:
        """Refuse a site's key (default: every key it still has) from now on."""
        return self.sites.revoke_key(site_id, public_key, actor, reason)

    def rotate_site_key(
        self, site_id: str, path: str, timestamp: str, signature: str, body: bytes
    ) -> dict[str, Any]:
        """A site's new key, asked for in a request signed with its current key."""
        return self.sites.rotate_key(site_id, path, timestamp, signature, body)

    def health(self) -> dict[str, Any]:
        """Liveness, and what the national gallery holds."""
        policy = self.policy
        return {"status": "ok", "templates": len(self.gallery.index), "pack": policy.pack_id,
                "threshold": policy.threshold, "target_fmr": policy.target_fmr,
                "open_set": (setting.evidence() if (setting := policy.setting()) else None),
                "open_set_cost": policy.cost(), "warnings": self.vault.warnings(),
                "fingers": fingers.health() if (fingers := self.gallery.fingers) else None}  # fmt: skip

    # --- push ----------------------------------------------------------------------------

    def apply_batch(self, site_id: str, signature: str, body: bytes) -> BatchReceipt:
        """Verify and apply one batch in one transaction; a bad batch is quarantined and refused.

        The signature is checked before anything is stored: a refused batch's body is kept only
        when the site's key proved who sent it (intake.quarantine bounds both kinds).
        """
        proved = False
        try:
            limits = (self.settings.max_batch_bytes, self.settings.max_plain_bytes)
            keyring = self.sites.keyring(site_id)
            plain = intake.authenticate(keyring, signature, body, limits, self.sites.grace)
            proved = True
            batch = intake.parse_signed(keyring, plain)
            with self.follower.writing():
                ctx = ApplyContext(
                    site_id, self.policy.pack_id, self.policy.dimension, vault=self.vault
                )
                with self.db.transaction() as tx:
                    receipt = intake.apply_verified(tx, batch, ctx)
                    gallery_feed.record(tx, ctx.touched)
                self.follower.follow()
            return receipt
        except (SyncUnauthenticated, SyncSchemaInvalid, SyncConflict) as exc:
            self._quarantine(site_id, signature, body if proved else None, exc)
            raise

    def _quarantine(
        self, site_id: str, signature: str, body: bytes | None, error: GerbangError
    ) -> None:
        """Keep the refused batch; a failure to do so is logged, the refusal still stands."""
        try:
            with self.db.transaction() as tx:
                intake.quarantine(tx, site_id, signature, body, error, self.vault)
        except GerbangError:
            log.exception("could not quarantine a refused batch from %s", site_id)

    # --- pull ----------------------------------------------------------------------------

    def pull_for_site(
        self,
        site_id: str,
        path_with_query: str,
        timestamp: str,
        signature: str,
        after: int,
        limit: int,
    ) -> dict[str, Any]:
        """A site's signed `GET` of the changes after its cursor."""
        self.sites.authenticate_request(site_id, "GET", path_with_query, timestamp, signature)
        return self.changes_for(site_id, after, limit)

    def changes_for(self, site_id: str, after: int, limit: int) -> dict[str, Any]:
        """What the site must apply after its cursor: {changes: [{seq, kind, payload}], last_seq}."""
        limit = max(1, min(limit, self.settings.pull_limit))
        with self.db.transaction() as tx:
            changes = changes_after(tx, site_id, max(after, 0), limit, self.vault)
            tx.execute("UPDATE sites SET last_contact = now() WHERE id = %s", (site_id,))
        return {"changes": changes, "last_seq": changes[-1]["seq"] if changes else after}

    def recovery_for_site(
        self,
        site_id: str,
        path_with_query: str,
        timestamp: str,
        signature: str,
        after: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """A site's signed `GET` of its own people, to rebuild a dead disk (registry/recovery.py)."""
        self.sites.authenticate_request(site_id, "GET", path_with_query, timestamp, signature)
        with self.db.transaction() as tx:
            return recovery.holdings(tx, site_id, after, limit, self.vault)

    # --- a site's search before it enrols -------------------------------------------------

    def search_for_site(
        self, site_id: str, path_with_query: str, timestamp: str, signature: str, body: bytes
    ) -> dict[str, Any]:
        """National candidates for a site's signed `POST` of probes; the search is audited.

        Runs outside `follower.writing`: the index serialises its own reads and writes (see search.py).
        A stale index (a commit it could not follow) may miss people, so it answers 503 and the
        site falls back to its local check rather than trust an incomplete "nobody".
        """
        self.sites.authenticate_request(
            site_id, "POST", path_with_query, timestamp, signature, body
        )
        request = search.parse_request(body)
        probes = search.probe_vectors(request, self.policy)
        return self.search_national(probes, request.roles, request.limit, site_id, site_id)

    def search_national(
        self,
        probes: np.ndarray,
        roles: Collection[str] | None,
        limit: int,
        actor: str,
        subject: str,
    ) -> dict[str, Any]:
        """National candidates for unit probes of the gallery's pack, audited as `actor`'s search."""
        if self.follower.stale:
            raise NationalSearchUnavailable(reason="the national gallery is being rebuilt")
        setting = self.policy.setting()
        threshold = self.policy.threshold
        hits = search.search_index(self.gallery.index, threshold, probes, roles, limit)
        with self.db.transaction() as tx:
            found = search.national_candidates(tx, hits, threshold, limit)
            audit(tx, actor, "national.searched", subject, {
                "probes": len(probes), "roles": roles, "pack_id": self.policy.pack_id,
                "threshold": threshold, "open_set": setting.evidence() if setting else None,
                "hits": [{"identity_id": c["identity_id"], "score": c["score"]} for c in found],
            })  # fmt: skip
        return {"pack_id": self.policy.pack_id, "threshold": threshold,
                "target_fmr": self.policy.target_fmr, "candidates": found,
                "open_set": setting.evidence() if setting else None}  # fmt: skip

    # --- officers ------------------------------------------------------------------------

    def login(self, username: str, password: str, source: str = "") -> tuple[str, accounts.Officer]:
        """A bearer token for an officer; failures throttled per account and source (429)."""
        self.sign_ins.check(username, source, time.time())  # wall clock: replicas share it
        try:
            with self.db.transaction() as tx:
                found = accounts.login(tx, username, password)
        except Unauthenticated:
            self.sign_ins.failed(username, source, time.time())
            raise
        self.sign_ins.succeeded(username, source)
        return found

    def logout(self, token: str, officer: accounts.Officer) -> None:
        """End the officer's session on this token (a shared PC at the centre is signed out)."""
        with self.db.transaction() as tx:
            accounts.logout(tx, token)
            audit(tx, officer.username, "officer.signed_out", officer.username, {})

    def officer(self, token: str) -> accounts.Officer:
        """The officer holding a live token."""
        with self.db.transaction() as tx:
            return accounts.officer_for_token(tx, token)

    def add_account(self, username: str, role: str, password: str, region: str | None) -> None:
        """Create an officer account (console)."""
        with self.db.transaction() as tx:
            accounts.add_account(tx, username, role, password, region)
            audit(tx, "console", "account.added", username, {"role": role, "region": region})

    def list_accounts(self) -> list[accounts.Account]:
        """Every officer account (console), never a password hash."""
        with self.db.transaction() as tx:
            return accounts.list_accounts(tx)

    def check_account(self, username: str) -> None:
        """AccountNotFound unless the account exists (said before a password is asked for)."""
        with self.db.transaction() as tx:
            accounts.account_state(tx, username)

    def set_password(self, username: str, password: str) -> int:
        """A new password (console); the officer's sessions end. Audited without the password."""
        with self.db.transaction() as tx:
            ended = accounts.set_password(tx, username, password)
            audit(tx, "console", "account.password_set", username, {"sessions_ended": ended})
        return ended

    def set_active(self, username: str, active: bool) -> tuple[bool, int]:
        """Enable or disable an account (console): (changed, sessions ended)."""
        with self.db.transaction() as tx:
            changed, ended = accounts.set_active(tx, username, active)
            if changed:
                action = "account.enabled" if active else "account.disabled"
                audit(tx, "console", action, username, {"sessions_ended": ended})
        return changed, ended

    def list_cases(self, state: str = "open") -> list[dict[str, Any]]:
        """Duplicate cases in one state."""
        with self.db.transaction() as tx:
            return cases.list_cases(tx, state)

    def decide_case(
        self, case_id: int, decision: str, officer: accounts.Officer, reason: str
    ) -> dict[str, Any]:
        """Same (merge, tell every holding site) or not same (close)."""
        with self.follower.writing():
            with self.db.transaction() as tx:
                body, touched = cases.decide(tx, case_id, decision, officer.username, reason)
                gallery_feed.record(tx, {identity_id: [] for identity_id in touched})
            self.follower.follow()
        return body

    def transfer(
        self, identity_id: str, to_site: str, officer: accounts.Officer, reason: str
    ) -> dict[str, Any]:
        """Send an inmate's record and templates to another site."""
        _known_form(identity_id)
        with self.db.transaction() as tx:
            return transfers.transfer(
                tx, identity_id, to_site, officer.username, reason, self.vault
            )

    def watchlist_add(
        self, entry: watchlist.WatchlistEntry, officer: accounts.Officer
    ) -> dict[str, Any]:
        """Put a person on the national watchlist; every site receives them."""
        with self.follower.writing():
            with self.db.transaction() as tx:
                body, template_ids = watchlist.add_entry(
                    tx,
                    entry,
                    officer.username,
                    self.policy.pack_id,
                    self.policy.dimension,
                    self.vault,
                )
                gallery_feed.record(tx, {body["identity_id"]: template_ids})
            self.follower.follow()
        return body

    def watchlist_add_from_images(
        self,
        entry: dict[str, Any],
        photos: list[bytes],
        finger_images: list[FingerImage],
        officer: accounts.Officer,
    ) -> dict[str, Any]:
        """Extract the fingers as a site's enrolment would (the cheaper refusals first), embed the
        photos with the gallery's pack, then add the entry as above."""
        details = {**entry.pop("details", {}), "source": "images", "photos": len(photos),
                   "finger_images": len(finger_images)}  # fmt: skip
        try:  # the typed fields first: a control character in a name costs no extraction
            typed = watchlist.WatchlistEntry(**entry, details=details)
        except ValidationError as exc:  # which fields and why, as a 422 (never a 500)
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])  # fmt: skip
            raise RegistryInputInvalid(reason=problems[:300]) from exc
        fingers = self.watchlist_finger_images.fingers(finger_images)
        templates = self.watchlist_photos.templates(photos) if photos else []
        checked = typed.model_copy(update={"templates": templates, "fingers": fingers})
        return self.watchlist_add(checked, officer)

    def watchlist_entries(self) -> list[dict[str, Any]]:
        """Everyone on the national watchlist: the registry's entries and every site's bans."""
        with self.db.transaction() as tx:
            return watchlist.entries(tx)

    def request_photo(
        self, identity_id: str, officer: accounts.Officer, reason: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Ask the owning site for a person's photo; (the request, whether it is new)."""
        _known_form(identity_id)
        with self.db.transaction() as tx:
            return photos.request_photo(tx, identity_id, officer.username, reason)

    def photo(self, identity_id: str, officer: accounts.Officer) -> tuple[bytes, str]:
        """(bytes, content type) of a person's delivered photo; the read is audited."""
        _known_form(identity_id)
        with self.db.transaction() as tx:
            return photos.read_photo(tx, identity_id, officer.username, self.vault)

    def watchlist_remove(
        self, identity_id: str, officer: accounts.Officer, reason: str
    ) -> dict[str, Any]:
        """Take a person off the national watchlist; every site is told to let them go."""
        with self.follower.writing():
            with self.db.transaction() as tx:
                body = watchlist.remove_entry(tx, identity_id, officer.username, reason)
                gallery_feed.record(tx, {identity_id: []})
            self.follower.follow()
        return body

    def verify_audit(self) -> AuditChainReport:
        """Walk the audit chain; the first event that breaks it, if any."""
        with self.db.transaction() as tx:
            return verify_audit_chain(tx)

    def checkpoint_audit(self) -> dict[str, Any] | None:
        """Sign and store a checkpoint of the audit chain, if it grew since the last one."""
        key = audit_key(self.settings.audit_key_file)
        with self.db.transaction() as tx:
            return make_checkpoint(tx, key)

    def audit_checkpoints(self) -> list[dict[str, Any]]:
        """Every stored checkpoint, oldest first, as an auditor keeps them."""
        with self.db.transaction() as tx:
            return stored_checkpoints(tx)

    def verify_checkpoints(self, kept: list[dict[str, Any]]) -> CheckpointReport:
        """The chain against every stored checkpoint and those an auditor `kept`, each once (a
        kept copy of a stored checkpoint is the same one: same signature)."""
        public = audit_key(self.settings.audit_key_file).public_key()
        with self.db.transaction() as tx:
            every = {c["signature"]: c for c in [*stored_checkpoints(tx), *kept]}
            return verify_checkpoints(tx, list(every.values()), public)

    def site_reports(
        self, officer: accounts.Officer, site_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The consolidation report; a regional monitor sees only its own region."""
        silent = timedelta(hours=self.settings.silent_after_hours)
        with self.db.transaction() as tx:
            return reports.site_reports(tx, officer.region, REPORT_PERIOD, silent, site_id)

    def site_report(self, officer: accounts.Officer, site_id: str) -> dict[str, Any]:
        """One site's report; a site outside a monitor's region does not exist for it."""
        found = self.site_reports(officer, site_id)
        if not found:
            raise RegistryNotFound.missing("site", site_id)
        return found[0]


def _known_form(identity_id: str) -> None:
    """RegistryNotFound unless the id is a UUID (PostgreSQL would fail the cast: a 500)."""
    try:
        uuid.UUID(identity_id)
    except ValueError as exc:
        raise RegistryNotFound.missing("identity", identity_id[:64]) from exc

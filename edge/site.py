"""The site's composition root: database, vault, engine, gallery and the use cases over them.

Built once by `create_app(settings)` (or by a CLI command). The engine and gallery load in
`start()`; until then, and if a model is missing, the use cases raise ModelNotReady with the fix.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from edge import wiring
from edge.devices.readers import ReaderPool
from edge.gate.records import GateStore
from edge.gate.service import GatePolicy, GateService
from edge.metrics import Metrics
from edge.model_fetch import ModelFetch, ModelsFetching, missing_files
from edge.nbis_build import NbisBuild
from edge.settings import Settings
from enrollment.captures import CapturePolicy
from enrollment.db import Database
from enrollment.duplicates import SEARCHABLE_STATUSES
from enrollment.faceless import FacelessPeople
from enrollment.finger_duplicates import DeskFingerEnrolment
from enrollment.finger_population import SiteFingerTail
from enrollment.fingers import FingerService
from enrollment.fused import FusedVerifier
from enrollment.fused_search import FusedSearch
from enrollment.keyring import Kek, SealedVault, resolve_kek
from enrollment.matching import Matcher
from enrollment.packs import PackChanged, active_pack
from enrollment.resealing import seal_clear_rows
from enrollment.service import EnrolmentService, MatchThresholds
from enrollment.site_identity import SiteIdMismatch, check_claimed
from enrollment.unit_of_work import unit_of_work
from enrollment.vault import Vault
from gallery_sync.gallery import GalleryIndex
from gallery_sync.openset import OpenSetThresholds
from kernel.access import SignInThrottle
from kernel.errors import GerbangError, Message
from models.calibration import Calibration
from models.engine import FaceEngine
from models.errors import ModelNotReady
from models.fingerprint import extractors
from models.fingerprint.tail import FingerTail
from models.fusion import FusionModel
from models.liveness import DEFAULT_THRESHOLD
from models.manifest import ModelPack
from models.obtain import ensure_converted
from models.store import ModelStore
from site_sync.follow import GalleryFeed, GalleryProjection
from site_sync.projection import build_gallery, stored_entries

log = logging.getLogger(__name__)

FIT_WAIT_SECONDS = 60  # closing waits this long at most for the site's finger-tail fit


class Site:
    """Everything one site service holds, wired together."""

    def __init__(self, settings: Settings, vault: Vault | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_path)
        try:
            check_claimed(self.db, settings.site_id)  # another site's data: refused before any work
        except SiteIdMismatch:
            self.db.close()
            raise
        self.kek: Kek | None = None
        self.vault = vault or self._sealed_vault()
        self.engine_: FaceEngine | None = None
        self.calibration: Calibration | None = None
        self.gallery_: GalleryIndex | None = None
        self.open_set: OpenSetThresholds | None = None
        self.problem: GerbangError | None = None
        self.metrics = Metrics()
        self.sign_ins = SignInThrottle()  # failed sign-ins per account and source (kernel.access)
        self._finger_calibration: Calibration | None = None
        self.finger_problem: GerbangError | None = None  # the extractor's model or calibration
        self._load_lock = threading.Lock()
        self.nbis = NbisBuild()
        self.model_fetch = ModelFetch()
        policy = CapturePolicy(
            keep_best=settings.enrolment.keep_best,
            min_captures=settings.enrolment.min_captures,
            liveness_threshold=settings.liveness_threshold or DEFAULT_THRESHOLD,
            require_liveness=settings.enrolment.require_liveness and settings.liveness,
        )
        # Other processes' writes (gerbang import, a sync agent run on its own) reach the
        # gallery through this feed; the service applies it every gallery_follow_seconds.
        self.projection = GalleryProjection(
            self.db, self.vault, lambda: self.gallery_, self._gallery_pack
        )
        self.gallery_feed = GalleryFeed(self.db, self.projection, self.rebuild_gallery)
        self.enrolment = EnrolmentService(
            self.db,
            self.vault,
            self.engine,
            self.gallery,
            self.thresholds,
            settings.site_id,
            policy,
            gallery_refresh=self.gallery_feed.follow,
        )
        self.matcher = Matcher(self.db, self.vault, self.engine, self.gallery, self.thresholds)
        self.fingers = FingerService(
            self.db, self.vault, self.finger_calibration, tail=self.finger_tail,
            extractor=wiring.finger_extractor(settings),
        )  # fmt: skip
        self.finger_population = SiteFingerTail(
            self.db, self.fingers,
            lambda: wiring.finger_tail_file(settings, self.fingers.extractor),
            settings.site_id, settings.match.finger_site_min_people,
        )  # fmt: skip
        self.desk_fingers = DeskFingerEnrolment(
            self.db, self.vault, self.fingers, settings.match.desk_duplicate_fpir
        )
        self.fused = FusedVerifier(self.fingers, self.fusion_model)
        self.readers = ReaderPool(settings.readers)  # opened on first use, not at start
        self._fusion: tuple[FingerTail | None, FusionModel] | None = None  # for that tail
        self.fused_search = FusedSearch(
            self.gallery, self.fingers, self.fusion_model, FacelessPeople(self.db)
        )
        gate_policy = GatePolicy(
            policy.liveness_threshold,
            settings.liveness,
            finger_required=settings.gate.finger_required(),
        )
        self.gate = GateService(self.db, self.vault, self.engine, self.matcher, self.thresholds,
                                gate_policy, self.fused, self.fused_search)  # fmt: skip

    def _sealed_vault(self) -> SealedVault:
        """Unlock the data key (refusing a wrong KEK), then seal what an older version left clear."""
        key = self.settings.key
        self.kek = resolve_kek(key.passphrase_file, key.kek_file, self.settings.data_dir, self.db)
        vault = SealedVault(self.db, self.kek)
        seal_clear_rows(self.db, vault)
        return vault

    @property
    def key_warning(self) -> dict[str, str] | None:
        """What /ready says while the data key is wrapped by the key file beside the database."""
        if self.kek is None or not self.kek.development:
            return None
        return {
            "code": "development_key",
            "message": "Kunci data biometrik tersimpan di samping basis data (hanya untuk"
            " pengembangan): atur EDGE_KEY__PASSPHRASE_FILE atau EDGE_KEY__KEK_FILE lalu jalankan"
            " `gerbang keys rewrap`. / The biometric data key sits beside the database"
            " (development only): set EDGE_KEY__PASSPHRASE_FILE or EDGE_KEY__KEK_FILE and run"
            " `gerbang keys rewrap`.",
            "file": self.kek.source,
        }

    def start(self) -> None:
        """Load the models and calibration, then rebuild the gallery from the database; build the
        fingerprint extractor in the background if this checkout lacks it."""
        self.nbis.start()
        with self._load_lock:
            try:
                spec = wiring.engine_spec(self.settings, self.pack_in_use())
                if self._fetching(spec.store, spec.pack):
                    raise self.model_fetch.problem or ModelNotReady.missing("pack", "", "wait")
                ensure_converted(spec.store, spec.pack)
                engine = spec.build()
                calibration = Calibration.load(
                    wiring.calibration_path(self.settings, engine.pack_id)
                )
                self._check_usable(engine, calibration)
                cursor = self.gallery_feed.head()  # before the build: later writes re-apply
                gallery = build_gallery(self.db, self.vault, engine.pack_id, engine.dimension)
                open_set = wiring.open_set_thresholds(
                    self.settings, engine.pack_id, calibration, gallery
                )
                # Together: a reload (gerbang gate run after a pack switch) must not pair the
                # new engine with the old gallery for longer than it takes to assign them.
                self.engine_, self.gallery_ = engine, gallery
                self.calibration, self.problem = calibration, None
                self.open_set = open_set
                self.gallery_feed.loaded_at(cursor)
                self._fusion = None  # fitted per face pack: a reload may have changed it
            except ModelsFetching as exc:
                self.problem = exc  # /ready shows its progress; the fetch reloads when done
            except GerbangError as exc:
                log.error("models not ready: %s %s", exc, exc.details)
                self.problem = exc
            except (OSError, ValueError) as exc:
                self.problem = ModelNotReady.missing(
                    "calibration", str(exc), "gerbang calibrate DIR"
                )
            self.finger_problem = self._fingers_usable()
            # The fingerprint 1:N index is a projection of the database like the face gallery.
            self.fingers.refresh_index()

    def load(self) -> None:
        """start(), then wait until a fetch of missing model files it began has ended: a command
        that needs the models (gate run, import) then reports the fetch's outcome (loaded, or
        `models_fetch_failed` with what to place where), never that it is still under way."""
        self.start()
        self.model_fetch.wait()

    def _gallery_pack(self) -> str:
        """The pack of the gallery in memory: the loaded engine's (after a re-embed switched the
        site, still the old one until a restart), else the site's."""
        return self.engine_.pack_id if self.engine_ is not None else self.pack_in_use()

    def pack_in_use(self) -> str:
        """The pack the site runs on: the configured one until a re-embed switches it."""
        return active_pack(self.db, self.settings.pack)

    def _fingers_usable(self) -> GerbangError | None:
        """Load the finger extractor's model (LEADER's ONNX file) and its calibration now, so
        /ready says what is missing rather than the first finger at the gate."""
        extractor = self.fingers.extractor
        try:
            extractors.warm(extractor)
            self.finger_calibration()
            self.finger_population.fallback()  # an operator's damaged tail file: say so now
        except GerbangError as exc:
            return exc
        except (OSError, ValueError) as exc:
            fix = f"ship {extractor.calibration_id}.json or set EDGE_MATCH__FINGER_EXTRACTOR=nbis"
            return ModelNotReady.missing("finger calibration", str(exc), fix)
        return None

    def _fetching(self, store: ModelStore, pack: ModelPack) -> bool:
        """Start fetching the pack's missing files, if any and allowed; whether the load waits."""
        missing = missing_files(store, pack)
        if not missing or not self.settings.fetch_models:
            return False
        self.model_fetch.start(store, missing, self._fetched)
        return True

    def _fetched(self) -> None:
        """The fetch ended: load the pack, or keep what to place where (under the load lock, so a
        start() still reporting the fetch cannot overwrite its outcome)."""
        with self._load_lock:
            if self.model_fetch.problem is not None:
                self.problem = self.model_fetch.problem
                return
        self.start()

    @property
    def ready(self) -> bool:
        """Models, calibration and gallery all loaded."""
        return (
            self.engine_ is not None and self.gallery_ is not None and self.calibration is not None
        )

    def engine(self) -> FaceEngine:
        """The loaded engine, or the 503 explaining why there is none."""
        if self.engine_ is None:
            raise self.problem or ModelNotReady.missing("engine", "", "wait for start-up")
        return self.engine_

    def gallery(self) -> GalleryIndex:
        """The loaded gallery, or the same 503."""
        if self.gallery_ is None:
            raise self.problem or ModelNotReady.missing("gallery", "", "wait for start-up")
        return self.gallery_

    def finger_tail(self) -> FingerTail | None:
        """The fitted MCC impostor tail for 1:N thresholds, if any: an operator's file, else the
        site's own fingers once it has enough people, else the shipped one
        (enrollment/finger_population.py)."""
        return self.finger_population.current()

    def finger_calibration_report(self) -> dict[str, Any] | None:
        """Which finger tail serves, as /ready shows it (None while its file is unreadable: the
        finger problem says why). Asking starts the site's first fit in the background."""
        try:
            return self.finger_population.state().report()
        except GerbangError:
            return None

    def finger_calibration(self) -> Calibration:
        """The fingerprint matcher's calibration (a site's own wins over the shipped one)."""
        if self._finger_calibration is None:
            self._finger_calibration = Calibration.load(
                wiring.calibration_path(self.settings, self.fingers.extractor.calibration_id)
            )
        return self._finger_calibration

    def _check_usable(self, engine: FaceEngine, calibration: Calibration) -> None:
        """Refuse to be ready with a target rate the calibration cannot serve, or without the
        liveness the settings demand: better 'not ready' at start than a 500 at the gate."""
        match = self.settings.match
        for name, target in (
            ("verify_fmr", match.verify_fmr),
            ("identify_fmr", match.identify_fmr),
        ):
            try:
                calibration.point_for(target)
            except ValueError as exc:
                stored = [p.target_fmr for p in calibration.operating_points]
                raise ModelNotReady.missing(
                    "calibration", f"EDGE_MATCH__{name.upper()}={target}", f"use one of {stored}"
                ) from exc
        if self.settings.liveness and engine.liveness is None:
            raise ModelNotReady.missing(
                "antispoof",
                engine.pack_id,
                "use a pack with anti-spoof models or set EDGE_LIVENESS=false",
            )

    def fusion_model(self) -> FusionModel:
        """Face + finger fusion for the face pack in use and the site's finger extractor."""
        tail = self.finger_tail()
        if (
            self._fusion is None or self._fusion[0] is not tail
        ):  # a new tail: refit the finger's 1:N
            pack, extractor = self.engine().pack_id, self.fingers.extractor
            path = wiring.calibration_path(self.settings, extractor.fusion_id(pack))
            if not path.is_file():  # no fusion fitted for this pack: a fingerprint cannot be fused
                raise ModelNotReady.missing(
                    "fusion", str(path), "python -m bench.fusion_dev --write ..."
                )
            self._fusion = (tail, wiring.fusion_model(self.settings, pack, extractor, tail))
        return self._fusion[1]

    def open_set_report(self) -> dict[str, Any] | None:
        """What the configured targets cost on this population at the current gallery sizes:
        threshold, false alarms per 100 searches by people not enrolled, expected misses, and a
        warning where the face alone cannot reach a target at a usable miss rate."""
        if self.open_set is None or self.gallery_ is None:
            return None
        gallery = self.gallery_
        with self.db.reading() as tx:
            inside = len(GateStore(tx).visitors_inside())
        sizes = {
            "gate_inmate": gallery.people(("inmate",), ("active",)),
            "banned_visitor": gallery.people(("visitor",), ("banned",)),
            "visitor_exit": inside,
            "staff": gallery.people(("staff",), ("active",)),
            "identify": gallery.people(None, ("active",)),
            "desk_duplicate": gallery.people(None, SEARCHABLE_STATUSES),
        }
        costs = self.open_set.costs({k: max(v, 1) for k, v in sizes.items()})
        current = self.open_set.current
        warnings = [
            {
                "code": "open_set_target_unreachable",
                "kind": cost["kind"],
                "message": Message(
                    f"Wajah saja tidak mencapai target FPIR {cost['target_fpir']:g} untuk"
                    f" {cost['kind']} dengan tingkat terlewat yang wajar (perkiraan"
                    f" {cost['expected_fnir']}): tambahkan sidik jari atau periksa petugas.",
                    f"The face alone cannot reach the target FPIR {cost['target_fpir']:g} for"
                    f" {cost['kind']} at a usable miss rate (expected {cost['expected_fnir']}):"
                    " add fingerprints or an officer's check.",
                ).as_dict(),
            }
            for cost in costs
            if not cost["usable"]
        ]
        return {
            "calibration": current.source,
            "dataset": current.dataset,
            "calibrated_people": current.people,
            "costs": costs,
            "warnings": warnings,
        }

    def thresholds(self) -> MatchThresholds:
        """Score thresholds for the configured target rates, from the pack's calibration."""
        if self.calibration is None:
            raise self.problem or ModelNotReady.missing("calibration", "", "gerbang calibrate DIR")
        match = self.settings.match
        return MatchThresholds(
            identify=self.calibration.threshold_for(match.identify_fmr),
            identify_fmr=match.identify_fmr,
            verify=self.calibration.threshold_for(match.verify_fmr),
            verify_fmr=match.verify_fmr,
            open_set=self.open_set,
        )

    def pack_changed(self) -> PackChanged | None:
        """The refusal to give when a re-embed has switched the site away from the loaded pack
        (this process must be restarted, see enrollment/packs.py); None while they agree."""
        loaded = self.engine().pack_id
        active = self.pack_in_use()
        return None if active == loaded else PackChanged.since_start(loaded, active)

    def rebuild_gallery(self) -> int:
        """Replace the live gallery with one rebuilt from the database; return its size.
        Refused after a pack switch: the old pack's templates no longer cover everyone."""
        if problem := self.pack_changed():
            raise problem
        gallery = self.gallery()
        gallery.rebuild(stored_entries(self.db, self.vault, self.engine().pack_id))
        return len(gallery)

    def rebuild_gallery_for(self, actor: str) -> int:
        """`rebuild_gallery`, recorded in the audit log as done by `actor`."""
        size = self.rebuild_gallery()
        with unit_of_work(self.db, self.vault) as uow:
            uow.audit(actor, "gallery.rebuilt", self.engine().pack_id, {"templates": size})
        return size

    def close(self) -> None:
        """Release the fingerprint readers and the database (after a finger-tail fit under way:
        it reads the database)."""
        self.readers.close()
        self.finger_population.wait(FIT_WAIT_SECONDS)
        self.db.close()

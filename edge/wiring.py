"""Turning Settings into the model layer's objects, in one place for the CLI and the service."""

from __future__ import annotations

from pathlib import Path

from edge.settings import Settings
from enrollment.packs import active_pack_at
from gallery_sync.gallery import GalleryIndex
from gallery_sync.openset import OpenSetThresholds, fallback_calibration
from models.calibration import SHIPPED_CALIBRATIONS, Calibration
from models.detector import DetectionPolicy
from models.engine import EngineOptions
from models.errors import ModelNotReady
from models.fingerprint import extractors
from models.fingerprint.extractors import FingerExtractor
from models.fingerprint.tail import FingerTail, load_tail, with_finger_tail
from models.fusion import FusionModel
from models.imaging import ImageLimits
from models.loader import EngineSpec, RuntimeChoice
from models.manifest import ModelPack, load_packs
from models.runtime import choose_providers
from models.store import ModelStore


def model_store(settings: Settings) -> ModelStore:
    """Pinned files from the model dir, converted ones from the writable cache."""
    return ModelStore(settings.model_dir, settings.cache_dir)


def pack_in_use(settings: Settings) -> str:
    """The pack the site runs on, as the service chooses it: EDGE_PACK until `gerbang reembed`
    switches the site (enrollment/packs.py), read without creating the database."""
    return active_pack_at(settings.database_path, settings.pack)


def pack_named(settings: Settings, pack_id: str | None = None) -> ModelPack:
    """The pack named, by default the one in use, refusing an unknown id with the known ones."""
    packs = load_packs(settings.model_dir)
    wanted = pack_id or pack_in_use(settings)
    if wanted not in packs:
        raise ModelNotReady.missing("pack", wanted, f"choose one of {sorted(packs)}")
    return packs[wanted]


def engine_options(settings: Settings) -> EngineOptions:
    """Image limits, detection policy and subject rule from settings."""
    limits = ImageLimits(
        settings.images.max_bytes, settings.images.max_pixels, settings.images.min_side
    )
    d = settings.detection
    policy = DetectionPolicy(d.max_side, d.min_side, d.retry_border)
    return EngineOptions(limits=limits, detection=policy, subject=d.subject)


def engine_spec(settings: Settings, pack_id: str | None = None) -> EngineSpec:
    """Everything needed to build the engine for a pack."""
    return EngineSpec(
        store=model_store(settings),
        pack=pack_named(settings, pack_id),
        runtime=RuntimeChoice(choose_providers(settings.providers), settings.threads),
        options=engine_options(settings),
        liveness=settings.liveness,
        liveness_threshold=settings.liveness_threshold,
    )


def calibration_path(settings: Settings, pack_id: str) -> Path:
    """A site's own calibration wins over the shipped one."""
    local = settings.data_dir / "calibrations" / f"{pack_id}.json"
    return local if local.is_file() else SHIPPED_CALIBRATIONS / f"{pack_id}.json"


def finger_extractor(settings: Settings) -> FingerExtractor:
    """The configured minutiae extractor (models/fingerprint/extractors.py)."""
    return extractors.named(
        settings.match.finger_extractor, model_store(settings), settings.threads
    )


def finger_tail(settings: Settings, extractor: FingerExtractor | None = None) -> FingerTail | None:
    """The fitted MCC impostor tail of an extractor (default: the configured one; a site's own
    file wins over the shipped one), None without one."""
    extractor = extractor or finger_extractor(settings)
    return load_tail(calibration_path(settings, extractor.tail_id))


def finger_tail_file(
    settings: Settings, extractor: FingerExtractor
) -> tuple[FingerTail | None, str]:
    """The extractor's tail file and whose it is: the operator's in the data folder ("file"),
    else the shipped one ("shipped"), else none ("operating-points")."""
    path = calibration_path(settings, extractor.tail_id)
    tail = load_tail(path)
    if tail is None:
        return None, "operating-points"
    return tail, "shipped" if path.parent == SHIPPED_CALIBRATIONS else "file"


def fusion_model(
    settings: Settings,
    pack_id: str,
    extractor: FingerExtractor | None = None,
    tail: FingerTail | None = None,
) -> FusionModel:
    """The pack's face + finger fusion for an extractor (default: the configured one), its finger
    1:N read off `tail` (default: the extractor's tail file) when there is one."""
    extractor = extractor or finger_extractor(settings)
    path = calibration_path(settings, extractor.fusion_id(pack_id))
    return with_finger_tail(FusionModel.load(path), tail or finger_tail(settings, extractor))


def open_set_thresholds(
    settings: Settings, pack_id: str, calibration: Calibration, gallery: GalleryIndex
) -> OpenSetThresholds:
    """Thresholds by target FPIR, calibrated on this gallery once it has enough people (until
    then the site's own `<pack>.openset.json`, else the shipped one, else the FMR points).
    Calibrated once here, off the decision path; later as the gallery changes."""
    match = settings.match
    own = settings.data_dir / "calibrations"
    folder: Path | None = (
        own if (own / f"{pack_id}.openset.json").is_file() else SHIPPED_CALIBRATIONS
    )
    if match.open_set_fallback == "fmr-points":
        folder = None
    open_set = OpenSetThresholds(
        fallback_calibration(pack_id, calibration, folder),
        match.fpir_targets(),
        match.open_set_min_people,
        cohort_size=match.cohort_size,
        cohort_k=match.cohort_k,
    )
    open_set.follow(gallery)
    return open_set

"""Which minutiae extractor makes fingerprint templates, the calibrations it needs, and the
evaluation commands' extractors with their template cache.

MCC scores of one extractor's minutiae are not the same distribution as another's: NBIS MINDTCT
and the LEADER network find different points on the same ridges. So a threshold is only right
for the extractor it was calibrated on, and every calibration file is named after it: the FMR
points (`finger-mcc.json` for NBIS, `finger-leader-mcc.json` for LEADER), the fitted impostor tail
(`<that>.openset.json`) and the face + finger fusion (`fusion-<pack>-mcc.json`,
`fusion-<pack>-leader-mcc.json`). A template records the extractor that made it
(`MinutiaeTemplate.extractor`, the `extractor` column of finger_templates), so templates of
another extractor can be counted and re-extracted from their master images.

The evaluation commands (eval, calibrate, tail) read the same images several times: their
template cache is keyed by the image's sha256, the extractor name and the resolution, and holds
only minutiae rows. It lives where the caller says (a scratch or cache folder), never in the
repository: templates derived from evaluation prints stay out of git.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.fingerprint import mcc, nbis
from models.fingerprint.minutiae import MinutiaeTemplate
from models.fingerprint.quality import FingerQuality, FingerQualityRules, assess
from models.store import ModelStore

Extractor = Callable[[npt.NDArray[np.uint8], int], MinutiaeTemplate]
# The setting's values and the id their MCC calibrations are named by.
MATCHER_IDS = {"nbis": "mcc", "leader": "leader-mcc"}
EXTRACTORS = tuple(MATCHER_IDS)


def calibration_id(name: str) -> str:
    """The FMR points' calibration id of an extractor by name (the registry has no extractor)."""
    return f"finger-{MATCHER_IDS[name]}"


@dataclass(frozen=True)
class FingerExtractor:
    """One minutiae extractor as the service uses it."""

    name: str  # the setting's value (EDGE_MATCH__FINGER_EXTRACTOR)
    label: str  # what its templates carry as MinutiaeTemplate.extractor
    matcher_id: str  # names its calibrations: "mcc" (NBIS minutiae), "leader-mcc"
    extract: Extractor

    @property
    def calibration_id(self) -> str:
        """The FMR points' calibration id (`<id>.json`)."""
        return f"finger-{self.matcher_id}"  # = calibration_id(self.name)

    @property
    def tail_id(self) -> str:
        """The fitted impostor tail's calibration id (`<id>.json`)."""
        return f"finger-{self.matcher_id}.openset"

    def fusion_id(self, pack_id: str) -> str:
        """The face + finger fusion model's calibration id for a face pack."""
        return f"fusion-{pack_id}-{self.matcher_id}"


NBIS = FingerExtractor("nbis", nbis.EXTRACTOR, "mcc", nbis.extract)


class _OnFirstUse:
    """LEADER's session opened at its first extraction (a converted ONNX file; a command that only
    counts templates must not load it), once, thread-safely."""

    def __init__(self, store: ModelStore, threads: int | None) -> None:
        self._store, self._threads = store, threads
        self._extract: Extractor | None = None
        self._lock = threading.Lock()

    def __call__(self, image: npt.NDArray[np.uint8], ppi: int) -> MinutiaeTemplate:
        return self.ready()(image, ppi)

    def ready(self) -> Extractor:
        """The extract function, loading the model now if needed (FingerprintModelMissing)."""
        with self._lock:
            if self._extract is None:
                from models.fingerprint import leader  # onnxruntime session, converted file

                self._extract = leader.load_extractor(self._store, self._threads).extract
            return self._extract


def named(name: str, store: ModelStore, threads: int | None = None) -> FingerExtractor:
    """The service's extractor for a setting's value; LEADER's model loads at first use."""
    if name == "nbis":
        return NBIS
    if name == "leader":
        from models.fingerprint.leader import EXTRACTOR

        return FingerExtractor("leader", EXTRACTOR, MATCHER_IDS[name], _OnFirstUse(store, threads))
    raise ValueError(f"extractor must be one of {sorted(MATCHER_IDS)}, got {name!r}")


def judged(
    extractor: FingerExtractor,
    image: npt.NDArray[np.uint8],
    ppi: int,
    rules: FingerQualityRules,
) -> tuple[FingerQuality, MinutiaeTemplate | None]:
    """An impression judged as every enrolment judges it, and the template `extractor` makes of it
    when it is good enough (None when not). The image checks and the quality rules are MINDTCT's
    (30 ms) whichever extractor keeps the template, so an impression is judged the same way at
    every site and at the registry. FingerprintImageInvalid for an image that cannot be read."""
    checked = nbis.extract(image, ppi)
    quality = assess(image, checked, rules)
    if not quality.accepted:
        return quality, None
    return quality, checked if extractor is NBIS else extractor.extract(image, ppi)


def warm(extractor: FingerExtractor) -> None:
    """Load a lazily loaded extractor's model now (at start, so /ready can say what is missing)."""
    if isinstance(extractor.extract, _OnFirstUse):
        extractor.extract.ready()


def named_extractor(
    name: str, store: ModelStore | None = None, threads: int | None = None
) -> Extractor:
    """The extract function of an extractor name; LEADER needs the store its model lives in."""
    if name not in MATCHER_IDS:
        raise ValueError(f"extractor must be one of {sorted(MATCHER_IDS)}, got {name!r}")
    if name != "nbis" and store is None:
        raise ValueError(f"the {name} extractor needs a model store")
    return NBIS.extract if store is None else named(name, store, threads).extract


def for_matcher(extract: Extractor, matcher: str) -> Extractor:
    """MCC compares templates carrying their cylinders: build them once, with the template."""
    if matcher != "mcc":
        return extract
    return lambda image, ppi: mcc.with_cylinders(extract(image, ppi))


class CachedExtractor:
    """An extractor whose results are kept as .npy rows under a folder, one file per image."""

    def __init__(self, extract: Extractor, name: str, folder: Path) -> None:
        self.extract, self.name, self.folder = extract, name, folder

    def _path(self, image: npt.NDArray[np.uint8], ppi: int) -> Path:
        digest = hashlib.sha256(image.tobytes() + repr(image.shape).encode()).hexdigest()
        return self.folder / self.name / str(ppi) / f"{digest}.npy"

    def __call__(self, image: npt.NDArray[np.uint8], ppi: int) -> MinutiaeTemplate:
        """The cached template, or a fresh one stored for next time (failures are not cached)."""
        path = self._path(image, ppi)
        height, width = image.shape
        if path.is_file():
            rows = np.load(path)
            return MinutiaeTemplate(width, height, ppi, rows, f"{self.name} (cached)")
        template = self.extract(image, ppi)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, template.minutiae)
        return template

"""Minutiae extractors by name ("nbis", "leader") for the evaluation commands, and a template
cache so one run's slow extraction serves the next (eval, calibrate and tail read the same
images).

The cache is keyed by the image's sha256, the extractor string and the resolution, and holds
only minutiae rows. It lives where the caller says (a scratch or cache folder), never in the
repository: templates derived from evaluation prints stay out of git.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.fingerprint import mcc, nbis
from models.fingerprint.minutiae import MinutiaeTemplate
from models.store import ModelStore

EXTRACTORS = ("nbis", "leader")

Extractor = Callable[[npt.NDArray[np.uint8], int], MinutiaeTemplate]


def named_extractor(
    name: str, store: ModelStore | None = None, threads: int | None = None
) -> Extractor:
    """The extract function of an extractor name; LEADER needs the store its model lives in."""
    if name == "nbis":
        return nbis.extract
    if name == "leader":
        from models.fingerprint import leader  # imported late: it opens an onnxruntime session

        if store is None:
            raise ValueError("the leader extractor needs a model store")
        return leader.load_extractor(store, threads).extract
    raise ValueError(f"extractor must be one of {EXTRACTORS}, got {name!r}")


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

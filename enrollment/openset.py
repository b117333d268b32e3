"""Open-set thresholds for the people actually enrolled: the site's gallery calibrates itself.

The gallery is a sample of known-different people: their captures scored against each other's
identity templates are the local impostor distribution, and their several captures the local
genuine one (models/openset.py). While the site has fewer than `min_people` people the pack's
shipped calibration serves (an identity-level file `<pack>.openset.json` when there is one, else
the pack's per-capture FMR points); from then on the site's own.

The calibration is refreshed off the decision path: each decision reads the current one, and when
the gallery has changed enough since the last calibration (`refresh_changes` changes or
`refresh_share` of its size, whichever is more) a background thread computes the next one; the
decisions keep the old one until it is ready. People merged into another (status `merged`) and
erased people never enter the impostor set; pairs an officer has judged the same person are left
out through `same_person`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gallery_sync.gallery import GalleryIndex
from models.calibration import Calibration
from models.openset import (
    DEFAULT_TARGET_FPIR,
    OpenSetCalibration,
    PointsTail,
    calibrate_gallery,
)

NOT_IMPOSTORS = ("merged", "erased")  # statuses left out of the site's impostor set


@dataclass(frozen=True)
class OpenSetThreshold:
    """The threshold one 1:N search decides at, and where it came from (decision evidence)."""

    kind: str
    target_fpir: float
    people: int
    threshold: float
    source: str
    extrapolated: bool

    def evidence(self) -> dict[str, Any]:
        """As stored with a decision."""
        return {
            "kind": self.kind,
            "target_fpir": self.target_fpir,
            "gallery_people": self.people,
            "threshold": round(self.threshold, 6),
            "calibration": self.source,
            "extrapolated": self.extrapolated,
        }


def fallback_calibration(
    pack_id: str, fmr_calibration: Calibration, folder: Path
) -> OpenSetCalibration:
    """The shipped identity-level calibration of the pack, or its FMR points when it has none."""
    path = folder / f"{pack_id}.openset.json"
    if path.is_file():
        return OpenSetCalibration.load(path, "shipped")
    points = tuple((p.target_fmr, p.threshold) for p in fmr_calibration.operating_points)
    return OpenSetCalibration(
        PointsTail(points), (), "fmr-points", fmr_calibration.dataset, fmr_calibration.n_identities
    )


class OpenSetThresholds:
    """Thresholds by decision kind and gallery size, from the current calibration."""

    def __init__(
        self,
        fallback: OpenSetCalibration,
        targets: Mapping[str, float] | None = None,
        min_people: int = 100,
        refresh_changes: int = 50,
        refresh_share: float = 0.05,
    ) -> None:
        self.fallback = fallback
        self.targets = {**DEFAULT_TARGET_FPIR, **(targets or {})}
        self.min_people = min_people
        self.refresh_changes = refresh_changes
        self.refresh_share = refresh_share
        self._current = fallback
        self._calibrated_at_version = -1
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._gallery: Callable[[], GalleryIndex] | None = None

    @property
    def current(self) -> OpenSetCalibration:
        """The calibration decisions use now."""
        return self._current

    def follow(self, gallery: Callable[[], GalleryIndex]) -> None:
        """Calibrate on this gallery (the site's), refreshed as it changes."""
        self._gallery = gallery

    def for_search(self, kind: str, people: int) -> OpenSetThreshold:
        """The threshold for a search of this kind over `people` people (cheap: no scoring)."""
        self._maybe_refresh()
        target = self.targets[kind]
        calibration = self._current
        return OpenSetThreshold(
            kind,
            target,
            people,
            calibration.threshold(target, people),
            calibration.source,
            calibration.tail.extrapolated(target, people),
        )

    def refresh_now(self) -> OpenSetCalibration:
        """Calibrate on the gallery now, in this thread (start-up, tests, the batch command)."""
        if self._gallery is not None:
            gallery = self._gallery()
            self._install(self._calibrate(gallery), gallery.version)
        return self._current

    def _maybe_refresh(self) -> None:
        """Start a background calibration when the gallery has changed enough since the last."""
        if self._gallery is None:
            return
        gallery = self._gallery()
        changes = gallery.version - self._calibrated_at_version
        due = max(self.refresh_changes, int(self.refresh_share * len(gallery)))
        if self._calibrated_at_version >= 0 and changes < due:
            return
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._calibrated_at_version = gallery.version  # not again until more changes
            version = gallery.version
            self._worker = threading.Thread(
                target=lambda: self._install(self._calibrate(gallery), version),
                name="openset-calibration",
                daemon=True,
            )
            self._worker.start()

    def _install(self, calibration: OpenSetCalibration, version: int) -> None:
        self._current = calibration
        self._calibrated_at_version = version

    def _calibrate(self, gallery: GalleryIndex) -> OpenSetCalibration:
        """The site's own calibration, or the fallback while it has too few people."""
        meta = gallery.snapshot()
        ids = [tid for tid, (_, _, status) in meta.items() if status not in NOT_IMPOSTORS]
        people = {meta[tid][0] for tid in ids}
        if len(people) < self.min_people:
            return self.fallback
        held, vectors = gallery.vectors_of(ids)
        labels = [meta[int(tid)][0] for tid in held]
        return calibrate_gallery(
            np.asarray(vectors),
            labels,
            f"this site's gallery: {len(people)} people, {len(labels)} captures",
        )

    def costs(self, people_by_kind: Mapping[str, int]) -> list[dict[str, Any]]:
        """What each target costs at the current gallery sizes (for /ready and the pages)."""
        calibration = self._current
        return [
            calibration.cost(kind, self.targets[kind], people)
            for kind, people in people_by_kind.items()
        ]


def search_threshold(
    gallery: GalleryIndex,
    open_set: OpenSetThresholds | None,
    per_comparison: float,
    kind: str,
    roles: Collection[str] | None,
    statuses: Collection[str] | None,
    only_identities: Collection[str] | None = None,
) -> tuple[float, OpenSetThreshold | None]:
    """The threshold a 1:N search of this kind decides at: by target FPIR for the people it
    scores when the site has open-set thresholds, else the per-comparison one."""
    if open_set is None:
        return per_comparison, None
    people = gallery.people(roles, statuses, only_identities)
    setting = open_set.for_search(kind, people)
    return setting.threshold, setting

"""Open-set thresholds for the people actually enrolled: a gallery calibrates itself (a site's, and
the registry's national one).

The gallery is a sample of known-different people: their captures scored against each other's
identity templates are the local impostor distribution, and their several captures the local
genuine one (models/openset.py). While the site has fewer than `min_people` people the pack's
shipped calibration serves (an identity-level file `<pack>.openset.json` when there is one, else
the pack's per-capture FMR points); from then on the site's own.

The calibration is refreshed off the decision path: a decision only reads the current one. The
gallery tells this object of every change (in the enrolment, sync or admin thread that made it);
once the changes since the last calibration reach `refresh_changes` or `refresh_share` of the
gallery, whichever is more, the next one is computed: at once while the gallery is small (a few
milliseconds), in a background thread beyond `sync_limit` captures, the decisions keeping the
previous one until it is ready. People merged into another (status `merged`) and erased people
never enter the impostor set: a merge leaves one identity holding the person's captures, so a
person is never scored as their own impostor.

Cohort score normalisation (models/cohort.py) comes with the site's own calibration: each
calibration draws its cohort from the site's people (up to `cohort_size`, all roles, seeded) and
scores its impostor and genuine sets S-normalised against it, and decisions made on that
calibration normalise against the same cohort (`OpenSetThreshold.cohort`, one snapshot), so
threshold and score are always on one scale. A new calibration brings a new cohort as the
gallery grows. The shipped fallbacks are raw cosines, and so are decisions while they serve: a
new site's cohort would be too small to trust. A cohort member erased or merged away leaves the
cohort at the next change, before any recalibration (their template must not outlive them).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gallery_sync.gallery import GalleryIndex
from kernel.background import SingleWorker
from models.calibration import Calibration
from models.cohort import DEFAULT_K, CohortNorm
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
    cohort: CohortNorm | None = field(default=None, compare=False, repr=False)

    def evidence(self) -> dict[str, Any]:
        """As stored with a decision."""
        return {
            "scale": "cosine" if self.cohort is None else f"s-norm (cohort {len(self.cohort)})",
            "kind": self.kind,
            "target_fpir": self.target_fpir,
            "gallery_people": self.people,
            "threshold": round(self.threshold, 6),
            "calibration": self.source,
            "extrapolated": self.extrapolated,
        }


def fallback_calibration(
    pack_id: str, fmr_calibration: Calibration, folder: Path | None
) -> OpenSetCalibration:
    """The pack's identity-level calibration in `folder`, or its FMR points when there is none
    (or no folder is given)."""
    path = folder / f"{pack_id}.openset.json" if folder is not None else None
    if path is not None and path.is_file():
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
        refresh_changes: int = 10,
        refresh_share: float = 0.05,
        sync_limit: int = 5_000,
        level: str = "identity",
        sample_people: int = 3_000,
        cohort_size: int = 0,
        cohort_k: int = DEFAULT_K,
    ) -> None:
        self.fallback = fallback
        self.targets = {**DEFAULT_TARGET_FPIR, **(targets or {})}
        self.min_people = min_people
        self.refresh_changes = refresh_changes
        self.refresh_share = refresh_share
        self.sync_limit = sync_limit
        self.level = level  # what searches score: "identity" (sites) or "capture" (registry)
        self.sample_people = sample_people  # a larger gallery is calibrated on a sample of people
        self.cohort_size = cohort_size  # 0: raw cosines; else S-norm against up to this many
        self.cohort_k = cohort_k
        self._current = fallback
        self._calibrated_at_version = -1
        self._worker = SingleWorker("openset-calibration")
        self._gallery: GalleryIndex | None = None

    @property
    def current(self) -> OpenSetCalibration:
        """The calibration decisions use now."""
        return self._current

    def follow(self, gallery: GalleryIndex) -> None:
        """Calibrate on this gallery (the site's) now, and again as it changes."""
        self._gallery = gallery
        gallery.subscribe(self.gallery_changed)
        self.refresh_now()

    def for_search(self, kind: str, people: int) -> OpenSetThreshold:
        """The threshold for a search of this kind over `people` people: a lookup in the
        current calibration, never a calibration (those follow gallery changes)."""
        target = self.targets[kind]
        calibration = self._current
        return OpenSetThreshold(
            kind,
            target,
            people,
            calibration.threshold(target, people),
            calibration.source,
            calibration.tail.extrapolated(target, people),
            calibration.cohort,
        )

    def refresh_now(self) -> OpenSetCalibration:
        """Calibrate on the gallery now, in this thread (start-up, tests, the batch command)."""
        if self._gallery is not None:
            version = self._gallery.version
            self._install(self._calibrate(self._gallery), version)
        return self._current

    def wait(self, timeout: float | None = None) -> None:
        """Until a background calibration under way has finished (tests, shutdown)."""
        self._worker.wait(timeout)

    def gallery_changed(self, gallery: GalleryIndex) -> None:
        """After a gallery change (enrolment, sync, admin; never a search): recalibrate once
        `refresh_changes` changes or `refresh_share` of the gallery have accumulated, at once
        while the gallery is small (milliseconds), in a background thread beyond `sync_limit`
        captures; decisions keep the previous calibration meanwhile."""
        self._drop_departed(gallery)
        due = max(self.refresh_changes, int(self.refresh_share * len(gallery)))
        if gallery.version - self._calibrated_at_version < due:
            return
        if len(gallery) <= self.sync_limit:
            self._install(self._calibrate(gallery), gallery.version)
            return
        version = gallery.version
        if self._worker.start(lambda: self._install(self._calibrate(gallery), version)):
            self._calibrated_at_version = version  # not again until more changes

    def _drop_departed(self, gallery: GalleryIndex) -> None:
        """Take cohort members no longer held as themselves (erased, merged) out at once."""
        calibration = self._current
        if calibration.cohort is None:
            return
        held = gallery.identity_statuses(calibration.cohort.members)
        gone = [p for p in calibration.cohort.members if held.get(p) in (None, *NOT_IMPOSTORS)]
        if not gone:
            return
        smaller = calibration.cohort.without(gone)
        # too few left: back to the fallback (raw cosines) until the next calibration
        self._current = replace(calibration, cohort=smaller) if smaller else self.fallback

    def _install(self, calibration: OpenSetCalibration, version: int) -> None:
        self._current = calibration
        self._calibrated_at_version = version

    def _calibrate(self, gallery: GalleryIndex) -> OpenSetCalibration:
        """The site's own calibration, or the fallback while it has too few people."""
        meta = gallery.snapshot()
        ids = [tid for tid, (_, _, status) in meta.items() if status not in NOT_IMPOSTORS]
        people = {meta[tid][0] for tid in ids}
        if len(people) < max(self.min_people, 2):
            return self.fallback
        if len(people) > self.sample_people:
            # the tail beyond the sample is the fitted one (models/openset.py)
            chosen = set(np.random.default_rng(0).choice(sorted(people), self.sample_people, False))
            ids = [tid for tid in ids if meta[tid][0] in chosen]
        held, vectors = gallery.vectors_of(ids)
        labels = [meta[int(tid)][0] for tid in held]
        cohort = self._cohort(gallery, sorted(people))
        scale = "cosine" if cohort is None else f"S-norm against {len(cohort)} of its people"
        return calibrate_gallery(
            np.asarray(vectors),
            labels,
            f"this gallery: {len(set(labels))} of its {len(people)} people,"
            f" {len(labels)} captures, scored by {self.level} ({scale})",
            level=self.level,
            cohort=cohort,
        )

    def _cohort(self, gallery: GalleryIndex, people: list[str]) -> CohortNorm | None:
        """A seeded sample of the site's people, by identity template (None: raw cosines)."""
        if self.cohort_size <= 0 or self.level != "identity":
            return None
        if len(people) > self.cohort_size:
            people = sorted(np.random.default_rng(1).choice(people, self.cohort_size, False))
        members = [(p, v) for p in people if (v := gallery.identity_vector(p)) is not None]
        if len(members) < self.cohort_k + 2:
            return None
        vectors = np.stack([v for _, v in members]).astype(np.float32)
        return CohortNorm(vectors, tuple(str(p) for p, _ in members), self.cohort_k)

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

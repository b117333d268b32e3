"""The MCC matcher's per-comparison impostor tail, fitted on FVC-style folders, for 1:N thresholds.

The operating points of finger-mcc.json stop at FMR 1e-4 on two easy sets, so a search over more
than about 500 templates had no threshold of its own. `FingerTail` holds an `ImpostorTail`
(models/openset.py: counted region, fitted exponential tail beyond it, thresholds at a 95%
one-sided bound) over the MCC impostor scores of every folder given, plus a coarse survival curve
of the body below the kept scores, so a low score reads as the common event it is (a tail alone
would say at most kept/n, which fused 1:N would take for evidence).

Protocol (`gerbang finger tail DIR... --out FILE`): in each folder every impression of a finger is
compared, as a probe is at a gate (extracted afresh), with every impression of every OTHER finger
of the same folder as the site holds it (stored as an ISO/IEC 19794-2 record and decoded again),
by `mcc_batch.compare_many`, the index's full MCC. Pairs never cross folders: FVC databases are
different sensors and people, and such pairs would only add easy impostors (a longer body, a
thinner-looking tail). Genuine scores (other impressions of the same finger) are kept for the
expected miss rate. Failed extractions are left out and counted.

A site and the registry also fit this tail on their own enrolled fingers (`population_scores`;
enrollment/finger_population.py, registry/national_finger_tail.py), within MAX_COMPARISONS, and
report the one serving as a `FingerTailState`: both are here, below either of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.fingerprint import iso19794, mcc
from models.fingerprint.evaluation import Extractor
from models.fingerprint.mcc import MinutiaeWithCylinders
from models.fingerprint.mcc_batch import Packed, compare_many
from models.fingerprint.mcc_template import MccTemplate
from models.fingerprint.openset_eval import Finger, load_fingers
from models.fusion import FusionModel, ScoreModel
from models.json_files import write_json
from models.openset import ImpostorTail

FILE_NAME = "finger-mcc.openset"  # a calibration id: <data dir or shipped>/finger-mcc.openset.json
FORMAT_VERSION = 1
KEEP = 2_000  # top impostor scores written: the counted region reaches FMR KEEP / n
BODY_POINTS = 64  # survival points written for the scores below the kept ones
IMPOSTORS_PER_PROBE = 20  # a fit's probe fingers: at most MAX_COMPARISONS / this, whole people
MAX_COMPARISONS = 40_000  # a fit's impostor comparisons: about 20 s of one core with LEADER


@dataclass(frozen=True)
class FingerTail:
    """Per-comparison MCC impostor tail, the body's survival curve, and what it was fitted on."""

    tail: ImpostorTail
    body: tuple[tuple[float, float], ...]  # (score, share of impostors at or above), rising
    genuine: tuple[float, ...]
    dataset: str
    fingers: int

    def fmr_at(self, score: float) -> float:
        """Share of impostor comparisons at or above a score: tail, fitted tail, or body."""
        if score >= self.tail.top[-1] or not self.body:
            return self.tail.fmr_at(score)
        # the nearest point at or below the score: its share over-states the FMR, never under
        shares = [share for s, share in self.body if s <= score]
        return min(shares) if shares else 1.0

    def threshold_at_fmr(self, fmr: float) -> float:
        """The lowest threshold whose FMR is at most `fmr`, at the tail's 95% bound."""
        return self.tail.threshold_at_fmr(fmr)

    def counted(self, fmr: float) -> bool:
        """True when a threshold at this FMR is read off the data, not the fitted tail."""
        return fmr * self.tail.n >= self.tail.k

    def save(self, path: Path) -> None:
        """Write the tail (top scores only: scores, never images) as JSON."""
        write_json(Path(path), {
            "format_version": FORMAT_VERSION, "tail": self.tail.as_dict(KEEP),
            "body": [[round(s, 6), share] for s, share in self.body],
            "genuine": [round(g, 6) for g in self.genuine], "dataset": self.dataset,
            "fingers": self.fingers,
        })  # fmt: skip

    @classmethod
    def load(cls, path: Path) -> FingerTail:
        """Read what save wrote (ValueError when it is not such a file)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format {data.get('format_version')!r}")
            return cls(
                ImpostorTail.from_dict(data["tail"]),
                tuple((float(s), float(share)) for s, share in data["body"]),
                tuple(float(g) for g in data["genuine"]),
                str(data["dataset"]),
                int(data["fingers"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid finger tail file {path}: {exc}") from exc


@dataclass(frozen=True)
class FingerTailState:
    """The tail decisions use now and where it comes from (for /ready and the evidence)."""

    tail: FingerTail | None
    source: str  # "site", "national", "file" (the operator's), "shipped" or "operating-points"
    people: int  # people with fingers at the last fit (0 before any)

    def report(self) -> dict[str, Any]:
        """As /ready shows it."""
        return {
            "calibration": self.source,
            "dataset": self.tail.dataset if self.tail else None,
            "calibrated_people": self.people,
            "impostor_comparisons": self.tail.tail.n if self.tail else 0,
        }


def load_tail(path: Path) -> FingerTail | None:
    """The tail at this path, or None when there is no such file (the operating points decide)."""
    return FingerTail.load(path) if Path(path).is_file() else None


def body_curve(scores: npt.ArrayLike, below: float) -> tuple[tuple[float, float], ...]:
    """(score, share at or above it) at evenly spaced quantiles of the scores below `below`."""
    ranked = np.sort(np.asarray(scores, dtype=np.float64))
    n, body = ranked.size, ranked[ranked < below]
    if body.size == 0:  # every score was kept: the tail's counted region covers them all
        return ()
    marks = np.unique(np.quantile(body, np.linspace(0, 1, BODY_POINTS)))
    above = n - np.searchsorted(ranked, marks, side="left")
    return tuple((float(s), float(c) / n) for s, c in zip(marks, above, strict=True))


def stored(template: MinutiaeWithCylinders) -> MinutiaeWithCylinders:
    """The template as a site compares it after storing it as an ISO record."""
    return mcc.with_cylinders(iso19794.decode(iso19794.encode([(1, template)]))[0][1])


def folder_scores(fingers: dict[str, Finger]) -> tuple[list[float], list[float]]:
    """(impostor, genuine) scores of one folder's fingers: every fresh impression against every
    stored impression of the other fingers (impostor) and of its own finger (genuine)."""
    names = sorted(fingers)
    gallery = [(f, i, Packed.of(stored(t).cylinders)) for f in names for i, t in fingers[f].items()]
    impostor: list[float] = []
    genuine: list[float] = []
    for finger in names:
        for number, probe in fingers[finger].items():
            others = [(f, i, p) for f, i, p in gallery if (f, i) != (finger, number)]
            scores = compare_many(probe.cylinders, [p for _, _, p in others])
            for (f, _, _), score in zip(others, scores, strict=True):
                (genuine if f == finger else impostor).append(score)
    return impostor, genuine


def fit_tail(
    folders: Sequence[Path], ppi: int, dataset: str, extract: Extractor | None = None
) -> FingerTail:
    """The tail of the MCC impostor scores of these folders (pairs within each folder only)."""
    impostor: list[float] = []
    genuine: list[float] = []
    fingers = 0
    for folder in folders:
        found = load_fingers([Path(folder)], ppi, extract)
        scores, mates = folder_scores(found)
        impostor += scores
        genuine += mates
        fingers += len(found)
    return tail_of(impostor, genuine, dataset, fingers)


def tail_of(impostor: Sequence[float], genuine: Sequence[float], dataset: str,
            fingers: int) -> FingerTail:  # fmt: skip
    """The fitted tail (and body) of these impostor scores."""
    if len(impostor) < 2:
        raise ValueError("need at least two impostor comparisons: give folders of several fingers")
    tail = ImpostorTail.fit(impostor, keep=KEEP)
    return FingerTail(tail, body_curve(impostor, tail.top[-1]), tuple(genuine), dataset, fingers)


# One enrolled finger: (person, ISO position) -> its stored impressions, cylinders built or as an
# index holds them (`Packed`: the registry's national index keeps nothing else).
Impression = MinutiaeWithCylinders | Packed
Enrolled = Mapping[tuple[str, int], Sequence[Impression]]


def population_scores(
    enrolled: Enrolled, max_comparisons: int, seed: int = 0, any_position: bool = False
) -> tuple[list[float], list[float]]:
    """(impostor, genuine) MCC scores of a gallery's own fingers, as a search meets them.

    Each enrolled finger's first impression is a probe against the stored impressions of other
    people's fingers at the same position (a site's search compares same positions only; with
    `any_position`, at every position, as the registry's national search does), a random share
    of them when all would exceed `max_comparisons` (every finger probes, each against as many
    as the budget allows, so no one print's quirks weigh on the tail); its other impressions
    against the first are the genuine scores. Stored against stored: the site keeps no fresh
    probes, and both sides went through ISO, as the stored side of a real search does. A
    `Packed` impression probes as an index re-scores it (expanded: the registry's search reads
    its probe from its index the same way)."""
    rng = np.random.default_rng(seed)
    keys = sorted(k for k, prints in enrolled.items() if prints)
    packed = {k: [_packed(t) for t in enrolled[k]] for k in keys}
    codes = {person: n for n, person in enumerate(sorted({person for person, _ in keys}))}
    pools = _pools(keys, packed, codes, any_position)
    each = max(1, max_comparisons // max(len(keys), 1))
    impostor: list[float] = []
    genuine: list[float] = []
    for person, position in keys:
        probe = _probe(enrolled[(person, position)][0])
        items, owners = pools[None if any_position else position]
        others = np.flatnonzero(owners != codes[person])
        if len(others) > each:
            others = others[rng.choice(len(others), each, replace=False)]
        impostor += compare_many(probe, [items[j] for j in others])
        genuine += compare_many(probe, packed[(person, position)][1:])
    return impostor, genuine


def _pools(keys: list[tuple[str, int]], packed: Mapping[tuple[str, int], list[Packed]],
           codes: Mapping[str, int], any_position: bool
           ) -> dict[int | None, tuple[list[Packed], npt.NDArray[np.int64]]]:  # fmt: skip
    """The impressions a probe draws its impostors from, by position (None: one pool for every
    position), in key then impression order, with each one's person by number (`codes`)."""
    grouped: dict[int | None, list[tuple[Packed, int]]] = {}
    for key in keys:
        pool = grouped.setdefault(None if any_position else key[1], [])
        pool += [(p, codes[key[0]]) for p in packed[key]]
    return {
        pool: ([p for p, _ in items], np.array([c for _, c in items], dtype=np.int64))
        for pool, items in grouped.items()
    }


def _packed(impression: Impression) -> Packed:
    return impression if isinstance(impression, Packed) else Packed.of(impression.cylinders)


def _probe(impression: Impression) -> MccTemplate:
    return impression.expand() if isinstance(impression, Packed) else impression.cylinders


@dataclass(frozen=True)
class TailScoreModel(ScoreModel):
    """The fusion model's finger, its 1:N (`threshold_at`, `fmr_at`) read off the fitted tail;
    the LLR map, the veto and the 1:1 operating points stay the fusion model's."""

    tail: FingerTail | None = None

    def threshold_at(self, fmr: float) -> tuple[float, bool]:
        """Threshold at a per-comparison FMR, and whether it lies in the fitted tail."""
        if self.tail is None:
            return super().threshold_at(fmr)
        return self.tail.threshold_at_fmr(fmr), not self.tail.counted(fmr)

    def fmr_at(self, score: float) -> float:
        """Share of impostor comparisons at or above a score."""
        return super().fmr_at(score) if self.tail is None else self.tail.fmr_at(score)


def with_finger_tail(model: FusionModel, tail: FingerTail | None) -> FusionModel:
    """The model with its finger's 1:N routed through the tail (unchanged without one)."""
    if tail is None:
        return model
    kept = {f.name: getattr(model.finger, f.name) for f in fields(ScoreModel)}
    return replace(model, finger=TailScoreModel(**kept, tail=tail))


def sample_people(
    enrolled: Mapping[tuple[str, int], Sequence[Impression]], probes: int, seed: int = 0
) -> dict[tuple[str, int], Sequence[Impression]]:
    """Whole people in a seeded order until their fingers reach `probes` (all when fewer)."""
    by_person: dict[str, list[tuple[str, int]]] = {}
    for finger in enrolled:
        by_person.setdefault(finger[0], []).append(finger)
    people = sorted(by_person)
    chosen: list[tuple[str, int]] = []
    for k in np.random.default_rng(seed).permutation(len(people)):
        if len(chosen) >= max(probes, 2):
            break
        chosen += by_person[people[k]]
    return {finger: enrolled[finger] for finger in chosen}

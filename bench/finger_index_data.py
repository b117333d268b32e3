"""The data bench/finger_index.py measures the index on: the real FVC templates, the modelled
templates that fill the gallery, the folds, each rotation of the enrolled impressions and
exhaustive MCC of every probe (bench/finger_index.py's docstring says how and why)."""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge import wiring
from edge.settings import Settings
from kernel.errors import InputError
from models.fingerprint import evaluation, nbis
from models.fingerprint.extractors import CachedExtractor, Extractor, named_extractor
from models.fingerprint.mcc_batch import Packed, compare_many
from models.fingerprint.mcc_cylinders import build
from models.fingerprint.mcc_template import MccTemplate
from models.fingerprint.minutiae import MinutiaeTemplate


def folders(root: Path) -> list[Path]:
    """Every FVC database folder under the root (FFF_I.tif images)."""
    found = [p.parent for p in root.rglob("101_1.tif")]
    return sorted(set(found))


def real_templates(
    root: Path, extract: Extractor = nbis.extract
) -> list[tuple[str, int, MinutiaeTemplate]]:
    """(finger label, impression, template at 500 ppi) of every image that extracts (NBIS unless
    `extract` says otherwise)."""
    out = []
    for folder in folders(root):
        ppi = 512 if "2004_DB3" in folder.name.upper() else 500  # FVC2004 DB3 (thermal sweep)
        for item in evaluation.scan_folder(folder):
            try:
                template = extract(nbis.read_image(item.path.read_bytes()), ppi)
            except InputError:
                continue
            out.append((f"{folder.name}/{item.finger}", item.number, template.scaled_to(500)))
    return out


def extractor_of(args: argparse.Namespace) -> Extractor:
    """--extractor's extract function, through --template-cache when given."""
    extract = named_extractor(args.extractor, wiring.model_store(Settings()))
    if args.template_cache:
        return CachedExtractor(extract, args.extractor, Path(args.template_cache))
    return extract


def modelled(
    reals: list[tuple[str, int, MinutiaeTemplate]], sources: list[int], rng: np.random.Generator
) -> tuple[MinutiaeTemplate, tuple[str, str]]:
    """A new finger-like template: halves of two real fingers (impressions among `sources`),
    jittered, thinned, turned."""
    i, j = (int(k) for k in rng.choice(sources, 2, replace=False))
    while reals[i][0] == reals[j][0]:
        j = int(rng.choice(sources))
    a, b = reals[i][2], reals[j][2]
    cut_a, cut_b = np.median(a.minutiae[:, 0]), np.median(b.minutiae[:, 0])
    left = a.minutiae[a.minutiae[:, 0] < cut_a]
    right = b.minutiae[b.minutiae[:, 0] >= cut_b].copy()
    right[:, 0] += cut_a - cut_b  # join at the cut
    rows = np.concatenate([left, right])
    rows = rows[rng.random(len(rows)) > 0.15]
    rows[:, :2] += rng.normal(0, 3, (len(rows), 2))
    turn = rng.uniform(-np.pi / 9, np.pi / 9)
    centre = rows[:, :2].mean(axis=0)
    c, s = np.cos(turn), np.sin(turn)
    xy = rows[:, :2] - centre
    rows[:, 0] = centre[0] + c * xy[:, 0] + s * xy[:, 1]
    rows[:, 1] = centre[1] - s * xy[:, 0] + c * xy[:, 1]
    rows[:, 2] = (rows[:, 2] + turn + rng.normal(0, 0.1, len(rows))) % (2 * np.pi)
    return MinutiaeTemplate(a.width, a.height, 500, rows, "modelled"), (reals[i][0], reals[j][0])


@dataclass
class Fold:
    """One half of the fingers as probes, against a gallery whose modelled templates are made
    only of the other half's fingers (so no modelled template holds half of a probe's finger)."""

    probes: list[int]  # real impressions searched
    fakes: list[MccTemplate]
    exhaustive: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # probe x distinct
    by_bits: dict[int, np.ndarray] = field(default_factory=dict)  # exhaustive, by cell bits


@dataclass
class Data:
    """Real templates (each finger's first `enrol` impressions enrolled), the folds."""

    reals: list[tuple[str, int, MinutiaeTemplate]]
    enrolled: list[int]
    cylinders: dict[int, MccTemplate]
    folds: list[Fold]

    def distinct(self, fold: Fold) -> list[MccTemplate]:
        """Every distinct template of a fold's gallery: the enrolled reals, then its modelled ones."""
        return [self.cylinders[e] for e in self.enrolled] + fold.fakes

    def candidate(self, column: int) -> str:
        """Who a distinct template belongs to: a real finger, or a modelled template of its own."""
        if column < len(self.enrolled):
            return self.reals[self.enrolled[column]][0]
        return f"modelled/{column}"

    def column(self, key: Hashable, fold: Fold) -> int:
        """The distinct template a gallery key holds."""
        kind, number = key  # type: ignore[misc]
        if kind == "real":
            return self.enrolled.index(number)
        return len(self.enrolled) + number % len(fold.fakes)


def prepare(args: argparse.Namespace, rng: np.random.Generator) -> list[Data]:
    """Extract the real sets and build each fold's modelled templates once; then for each
    rotation of the enrolled impressions (one: each finger's first --enrol) enrol, pick the
    probes among the other impressions and match them exhaustively."""
    start = time.perf_counter()
    reals = real_templates(args.data, extractor_of(args))
    by_finger: dict[str, list[int]] = {}
    for k, (finger, _, _) in enumerate(reals):
        by_finger.setdefault(finger, []).append(k)
    fingers = sorted(by_finger)
    cylinders = {k: build(reals[k][2]) for k in range(len(reals))}
    halves = np.array_split(rng.permutation(len(fingers)), 2)
    datas: list[Data] = []
    fakes: list[list[MccTemplate]] = []  # each fold's, built with the first rotation
    for r, rotation in enumerate(args.rotations or [None]):
        chosen = {f: _enrolled(by_finger[f], reals, rotation, args.enrol) for f in fingers}
        enrolled = sorted(k for f in fingers for k in chosen[f])
        pick = rng if r == 0 else np.random.default_rng(12 + r)  # the first: as without rotations
        folds = []
        for side, (own, other) in enumerate((halves, halves[::-1])):
            enrolled_own = [fingers[i] for i in own if chosen[fingers[i]]]  # not: none extracted
            probes = [k for f in enrolled_own for k in by_finger[f] if k not in chosen[f]]
            probes = sorted(pick.choice(probes, min(len(probes), args.probes // 2), replace=False))
            if r == 0:
                sources = [k for i in other for k in by_finger[fingers[i]]]
                distinct = min(max(args.sizes) - len(enrolled), args.distinct)
                fakes.append([build(modelled(reals, sources, rng)[0]) for _ in range(distinct)])
            folds.append(Fold([int(k) for k in probes], fakes[side]))
        datas.append(Data(reals, enrolled, cylinders, folds))
        if args.decisions:
            _match_exhaustively(datas[-1], args.cells)
        print(f"{len(reals)} real templates, {len(fingers)} fingers, {len(enrolled)} enrolled"
              f" (impressions {rotation or f'first {args.enrol}'}),"
              f" {sum(len(f.probes) for f in folds)} probes in 2 folds,"
              f" {len(folds[0].fakes)} modelled templates a fold"
              f"{', exhaustive MCC of every probe against each' if args.decisions else ''}"
              f" ({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return datas


def _enrolled(own: list[int], reals: list[tuple[str, int, MinutiaeTemplate]],
              rotation: tuple[int, ...] | None, first: int) -> list[int]:  # fmt: skip
    """A finger's enrolled templates: those of the rotation's impressions, else its first few."""
    if rotation is None:
        return own[:first]
    return [k for k in own if reals[k][1] in rotation]


def _match_exhaustively(data: Data, cells: list[int]) -> None:
    """Every probe's full MCC score against every distinct template, for each cell packing."""
    for fold, bits in itertools.product(data.folds, cells):
        packed = [Packed.of(t, bits) for t in data.distinct(fold)]
        fold.by_bits[bits] = np.array([
            [s for b in range(0, len(packed), 256)
             for s in compare_many(data.cylinders[k], packed[b : b + 256])]
            for k in fold.probes
        ])  # fmt: skip


def rotation(text: str) -> tuple[int, ...]:
    """An --rotations item: impression numbers enrolled, e.g. 1,2,3."""
    return tuple(sorted(int(n) for n in text.split(",")))


def gallery(size: int, data: Data, fold: Fold) -> list[tuple[Hashable, MccTemplate]]:
    """The enrolled reals and size - enrolled modelled templates (round-robin over the fold's)."""
    items: list[tuple[Hashable, MccTemplate]] = [
        (("real", e), data.cylinders[e]) for e in data.enrolled
    ]
    fakes = [
        (("modelled", m), fold.fakes[m % len(fold.fakes)]) for m in range(size - len(data.enrolled))
    ]
    return items + fakes  # type: ignore[return-value]

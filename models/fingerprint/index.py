"""Fingerprint 1:N index: a fast first stage over every enrolled template, then full MCC.

Exhaustive MCC (LSS-R, mcc_matching.py) costs about 2.4 ms per comparison: 10,000 fingers would
take 24 s per search. The index shortlists templates with a coarse score and re-scores only the
best `shortlist` of them with full MCC, so the answer is MCC's own score and the only thing the
index can lose is a template it failed to shortlist (measured as recall against exhaustive
matching by bench/finger_index.py and the tests).

The coarse score (index_neighbours.py): each valid cylinder (N_S x N_S cells x N_D sections,
turned to its minutia's direction) is pooled to POOL x POOL blocks of cells, keeping the N_D
sections: 4 x 4 x 6 = 96 values, scaled to unit length. Pooling keeps the cylinder's layout but
forgives the small shifts a second impression brings. Each probe cylinder retrieves its nearest
gallery cylinders (FAISS inner product) among those whose minutia turns by at most delta_theta
from its own; a template's coarse score is the mean of its `top` best probe-cylinder similarities
(MCC's n_P idea: a few strongly matching minutiae make a mate). The shortlist is then re-scored
with full MCC in one batch (mcc_batch.py).

Memory per template (about 54 valid cylinders on FVC prints): pooled vectors 96 x 4 bytes in
FAISS only (a retraining reads them back), and the full cylinders for re-scoring packed
(mcc_batch.Packed: 4-bit cell values over the disc's cells, validity bits; 662 bytes): about
1.1 KB per valid cylinder, 55 KB per finger where byte values took 124 KB (`nbytes`;
bench/finger_index.py measures it, bench/finger_cells.py the scores' agreement).
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.fingerprint.index_neighbours import CylinderNeighbours, NeighbourParameters
from models.fingerprint.mcc_batch import Packed, compare_many
from models.fingerprint.mcc_template import MccTemplate

POOL = 4  # blocks of cells along each side of the pooled cylinder
_DIMS = POOL * POOL * 6


@dataclass(frozen=True)
class IndexParameters:
    """How wide the first stage is and how it scores."""

    shortlist: int = 24  # most templates re-scored with full MCC per search
    # Full MCC costs about probe cylinders x template cylinders: a large probe (150 cylinders at
    # p99 on FVC, 55 at the median) re-scores fewer templates, at least `least`, in coarse order.
    pair_budget: int = 90_000  # probe x template cylinder pairs re-scored per search
    least: int = 8  # templates re-scored whatever the budget
    top: int = 6  # best probe cylinders averaged into a template's coarse score
    turn: float = np.pi / 2  # largest direction difference of comparable cylinders (delta_theta)
    neighbours: int = 256  # gallery cylinders each probe cylinder retrieves
    exact_until: int = 20_000  # gallery cylinders searched exactly; an IVF index beyond
    probe_cells: int = 16  # IVF cells searched per probe cylinder
    probe_cylinders: int = 64  # most complete probe cylinders the first stage uses (all re-score)
    cell_bits: int = 4  # bits a cell value is re-scored from (mcc_batch.PACKINGS); 8 doubles it

    def neighbour_parameters(self) -> NeighbourParameters:
        return NeighbourParameters(
            self.neighbours, self.top, self.turn, self.exact_until, self.probe_cells
        )


@dataclass(frozen=True)
class Hit:
    """One template the index returned, with its full MCC score."""

    key: Hashable
    score: float
    coarse: float


def pooled(template: MccTemplate) -> npt.NDArray[np.float32]:
    """(n, POOL*POOL*N_D) unit-length pooled cylinders of a template."""
    p = template.params
    if p.ns % POOL:
        raise ValueError(f"N_S={p.ns} must be a multiple of POOL={POOL}")
    n, side = template.count, p.ns // POOL
    cells = template.cylinders.reshape(n, POOL, side, POOL, side, p.nd)
    blocks = cells.sum(axis=(2, 4), dtype=np.float32).reshape(n, POOL * POOL * p.nd)
    norms = np.linalg.norm(blocks, axis=1, keepdims=True)
    return np.asarray(blocks / np.maximum(norms, 1e-6), dtype=np.float32)


class FingerIndex:
    """Templates by key (e.g. a template id), searchable 1:N; add and remove as the database changes."""

    def __init__(self, params: IndexParameters | None = None) -> None:
        self.params = params or IndexParameters()
        self._serial_of: dict[Hashable, int] = {}  # insertion order is the key order
        self._key_of: dict[int, Hashable] = {}
        self._full: dict[int, Packed] = {}
        self._serials = itertools.count(1)
        self._neighbours = CylinderNeighbours(_DIMS, self.params.neighbour_parameters())

    def __len__(self) -> int:
        return len(self._serial_of)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._serial_of

    @property
    def cylinders(self) -> int:
        """Gallery cylinders in the first stage."""
        return self._neighbours.cylinders

    @property
    def nbytes(self) -> int:
        """Memory held for the templates (first-stage vectors, packed cylinders, minutiae)."""
        held = {id(c): c for c in self._full.values()}.values()
        full = sum(c.nbytes for c in held)
        return int(self._neighbours.nbytes + full + 64 * len(self._serial_of))

    def add(self, key: Hashable, template: MccTemplate) -> None:
        """Index one template (replacing one under the same key)."""
        self.add_many([(key, template)])

    def add_many(self, items: Iterable[tuple[Hashable, MccTemplate]]) -> None:
        """Index several templates at once (one FAISS call, for a rebuild)."""
        items = list(dict(items).items())  # the same key twice: the last template counts
        self.remove_many(key for key, _ in items)
        packed: dict[int, Packed] = {}  # a template added under several keys is held once
        serials, vectors, angles = [], [], []
        for key, template in items:
            serial = next(self._serials)
            self._serial_of[key], self._key_of[serial] = serial, key
            self._full[serial] = packed.setdefault(
                id(template), Packed.of(template, self.params.cell_bits)
            )
            serials.append(serial)
            vectors.append(pooled(template))
            angles.append(template.minutiae[:, 2])
        self._neighbours.add(serials, vectors, angles)

    def held(self, key: Hashable) -> Packed | None:
        """The packed cylinders the index re-scores with under `key`, or None when not held."""
        serial = self._serial_of.get(key)
        return None if serial is None else self._full[serial]

    def remove(self, key: Hashable) -> None:
        """Forget a template (an erased identity); unknown keys are ignored."""
        self.remove_many([key])

    def remove_many(self, keys: Iterable[Hashable]) -> None:
        """Forget several templates at once; unknown keys are ignored."""
        serials = [self._serial_of.pop(k) for k in set(keys) if k in self._serial_of]
        for serial in serials:
            del self._key_of[serial], self._full[serial]
        self._neighbours.remove(serials)

    def _coarse(self, probe: MccTemplate) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(serials, coarse scores) of the templates the first stage found for this probe."""
        if probe.count == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # A large probe (150 cylinders at p99 on FVC) costs the first stage in proportion; its
        # most complete cylinders (most valid cells) carry the top-6 mean on their own.
        valid_cells = probe.masks[:, :: probe.params.nd].sum(axis=1)
        used = np.sort(np.argsort(-valid_cells, kind="stable")[: self.params.probe_cylinders])
        return self._neighbours.votes(pooled(probe)[used], probe.minutiae[used, 2])

    def coarse_scores(self, probe: MccTemplate) -> npt.NDArray[np.float32]:
        """The first stage: a coarse score for every indexed template, in key order (0 if not found)."""
        column = {serial: k for k, serial in enumerate(self._serial_of.values())}
        out = np.zeros(len(column), np.float32)
        serials, scores = self._coarse(probe)
        for serial, score in zip(serials.tolist(), scores.tolist(), strict=True):
            out[column[serial]] = score
        return out

    def search(self, probe: MccTemplate, shortlist: int | None = None) -> list[Hit]:
        """The shortlisted templates re-scored with full MCC, best first (the default shortlist
        within the pair budget, a given one whole)."""
        n = min(shortlist or self.params.shortlist, len(self))
        if n == 0 or probe.count == 0:
            return []
        serials, coarse = self._coarse(probe)
        order = np.argsort(-coarse, kind="stable")[:n]
        chosen = [(int(serials[i]), float(coarse[i])) for i in order]
        if len(chosen) < n:  # a small gallery: fill up with templates nothing retrieved
            found = {s for s, _ in chosen}
            rest = (s for s in self._key_of if s not in found)
            chosen += [(s, 0.0) for s in itertools.islice(rest, n - len(chosen))]
        if shortlist is None:  # a caller's own shortlist (search_among's) is taken whole
            chosen = self._within_budget(probe, chosen)
        return self._rescored(probe, chosen)

    def _within_budget(self, probe: MccTemplate, ranked: list[tuple[int, float]]
                       ) -> list[tuple[int, float]]:  # fmt: skip
        """The best-ranked templates whose cylinder pairs with the probe fit the budget."""
        pairs = np.cumsum([probe.count * self._full[s].count for s, _ in ranked])
        fits = int(np.searchsorted(pairs, self.params.pair_budget, side="right"))
        return ranked[: max(fits, self.params.least)]

    def _rescored(self, probe: MccTemplate, chosen: list[tuple[int, float]]) -> list[Hit]:
        scores = compare_many(probe, [self._full[s] for s, _ in chosen])
        hits = [
            Hit(self._key_of[s], score, c) for (s, c), score in zip(chosen, scores, strict=True)
        ]
        return sorted(hits, key=lambda h: -h.score)

    def exhaustive(self, probe: MccTemplate) -> list[Hit]:
        """Full MCC against every template, best first: what the index is measured against."""
        serials, coarse = self._coarse(probe)
        found = dict(zip(serials.tolist(), coarse.tolist(), strict=True))
        everyone = [(s, found.get(s, 0.0)) for s in self._key_of]
        hits: list[Hit] = []
        for start in range(0, len(everyone), 256):  # bounded batches of full MCC
            hits += self._rescored(probe, everyone[start : start + 256])
        return sorted(hits, key=lambda h: -h.score)

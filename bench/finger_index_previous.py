"""THE PREVIOUS INDEX, kept as the peer bench/finger_index.py measures in the same run (main at
commit 4a3adb9, models/fingerprint/index.py before issue 12's FAISS first stage). Not used by
the service.

Fingerprint 1:N index: a fast first stage over every enrolled template, then full MCC.

Exhaustive MCC (LSS-R, mcc_matching.py) costs about 2.4 ms per comparison: 10,000 fingers would
take 24 s per search. The index ranks every template with a coarse score in a few milliseconds
and re-scores only the best `shortlist` of them with full MCC, so the answer is MCC's own score
and the only thing the index can lose is a template it failed to shortlist (measured as recall
against exhaustive matching by bench/finger_index.py and the tests).

The coarse score (the idea of "local similarity sort" of Cappelli, Ferrara, Maltoni, "Fingerprint
indexing based on Minutia Cylinder-Code", TPAMI 33(5), 2011, with their binary LSH replaced by
dense products, which NumPy does well):
- each valid cylinder (N_S x N_S cells x N_D sections, turned to its minutia's direction) is
  pooled to POOL x POOL blocks of cells, keeping the N_D sections: 4 x 4 x 6 = 96 values, scaled
  to unit length. Pooling keeps the cylinder's layout (what lies ahead of the minutia, at which
  relative direction) but forgives the small shifts a second impression brings;
- a probe cylinder's similarity to a template is its best cosine with any of the template's
  pooled cylinders whose minutia turns by at most MCC's delta_theta (pi/2) from the probe's;
- a template's coarse score is the mean of the `top` best probe-cylinder similarities (MCC's
  n_P idea: a few strongly matching minutiae make a mate).
All of it is one matrix product per block of templates and maxima over each template's columns.

Memory: each template keeps its pooled cylinders (96 float32 each) for the first stage and its
full cylinders for re-scoring as float16 values and per-cell validity (about 3.3 KB per minutia
kept), which re-score within 1e-3 of the float32 cylinders (the tests pin it).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from models.fingerprint.mcc_matching import compare
from models.fingerprint.mcc_template import MccParameters, MccTemplate

POOL = 4  # blocks of cells along each side of the pooled cylinder
_BLOCK_COLUMNS = 200_000  # gallery cylinders per matrix product: bounds memory at ~30 MB


@dataclass(frozen=True)
class IndexParameters:
    """How wide the first stage is and how it scores."""

    shortlist: int = 24  # templates re-scored with full MCC per search
    top: int = 6  # best probe cylinders averaged into a template's coarse score
    turn: float = np.pi / 2  # largest direction difference of comparable cylinders (delta_theta)


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


def _directions(angles: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """(n, 2) unit vectors of minutia directions."""
    return np.column_stack([np.cos(angles), np.sin(angles)]).astype(np.float32)


@dataclass(frozen=True)
class _Compact:
    """A template's full cylinders in half the memory: float16 values, validity per cell."""

    values: npt.NDArray[np.float16]
    cells: npt.NDArray[np.bool_]  # (n, N_S^2)
    minutiae: npt.NDArray[np.float64]
    params: MccParameters

    @classmethod
    def of(cls, template: MccTemplate) -> _Compact:
        p = template.params
        return cls(
            template.cylinders.astype(np.float16), template.masks[:, :: p.nd].copy(),
            template.minutiae, p,
        )  # fmt: skip

    def expand(self) -> MccTemplate:
        p = self.params
        masks = np.repeat(self.cells, p.nd, axis=1)
        return MccTemplate(self.values.astype(np.float32), masks, self.minutiae, p)


class FingerIndex:
    """Templates by key (e.g. a template id), searchable 1:N; add and remove as the database changes."""

    def __init__(self, params: IndexParameters | None = None) -> None:
        self.params = params or IndexParameters()
        self._keys: list[Hashable] = []
        self._full: list[_Compact] = []
        self._where: dict[Hashable, int] = {}
        dims = POOL * POOL * 6
        self._vectors = np.zeros(
            (0, dims), np.float32
        )  # every pooled cylinder, template after template
        self._dirs = np.zeros((0, 2), np.float32)
        self._starts = np.zeros(0, np.intp)  # first row of each template in _vectors
        self._counts = np.zeros(0, np.intp)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._where

    @property
    def nbytes(self) -> int:
        """Memory held for the templates (pooled vectors, compact cylinders, minutiae)."""
        held = {id(c): c for c in self._full}.values()
        full = sum(c.values.nbytes + c.cells.nbytes + c.minutiae.nbytes for c in held)
        return int(self._vectors.nbytes + self._dirs.nbytes + full + 16 * len(self._keys))

    def add(self, key: Hashable, template: MccTemplate) -> None:
        """Index one template (replacing one under the same key)."""
        self.add_many([(key, template)])

    def add_many(self, items: Iterable[tuple[Hashable, MccTemplate]]) -> None:
        """Index several templates at once (one concatenation, for a rebuild)."""
        items = list(items)
        self.remove_many(key for key, _ in items)
        vectors, dirs, counts = [self._vectors], [self._dirs], []
        compacted: dict[int, _Compact] = {}  # a template added under several keys is held once
        for key, template in items:
            self._where[key] = len(self._keys)
            self._keys.append(key)
            if id(template) not in compacted:
                compacted[id(template)] = _Compact.of(template)
            self._full.append(compacted[id(template)])
            vectors.append(pooled(template))
            dirs.append(_directions(template.minutiae[:, 2]))
            counts.append(template.count)
        self._vectors = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
        self._dirs = np.concatenate(dirs)
        self._counts = np.concatenate([self._counts, np.asarray(counts, np.intp)])
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]]).astype(np.intp)

    def remove(self, key: Hashable) -> None:
        """Forget a template (an erased identity); unknown keys are ignored."""
        self.remove_many([key])

    def remove_many(self, keys: Iterable[Hashable]) -> None:
        """Forget several templates at once; unknown keys are ignored."""
        drop = {self._where[k] for k in keys if k in self._where}
        if not drop:
            return
        rows = np.concatenate(
            [np.arange(self._starts[i], self._starts[i] + self._counts[i]) for i in drop]
        ).astype(np.intp)
        self._vectors = np.delete(self._vectors, rows, axis=0)
        self._dirs = np.delete(self._dirs, rows, axis=0)
        keep = [i for i in range(len(self._keys)) if i not in drop]
        self._keys = [self._keys[i] for i in keep]
        self._full = [self._full[i] for i in keep]
        self._counts = self._counts[keep]
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]]).astype(np.intp)
        self._where = {k: i for i, k in enumerate(self._keys)}

    def coarse_scores(self, probe: MccTemplate) -> npt.NDArray[np.float32]:
        """The first stage: a coarse score for every indexed template (0 when nothing compares)."""
        out = np.zeros(len(self._keys), np.float32)
        if probe.count == 0 or len(self._keys) == 0:
            return out
        query, query_dirs = pooled(probe), _directions(probe.minutiae[:, 2])
        top = min(self.params.top, probe.count)
        for first, last in self._blocks():
            rows = slice(
                int(self._starts[first]), int(self._starts[last - 1] + self._counts[last - 1])
            )
            sims = query @ self._vectors[rows].T  # (probe cylinders, block cylinders)
            # cos(theta_p - theta_c) from unit direction vectors: one more small product
            sims[query_dirs @ self._dirs[rows].T < np.cos(self.params.turn) - 1e-6] = 0.0
            counts = self._counts[first:last]
            filled = counts > 0  # reduceat needs non-empty segments
            offsets = (self._starts[first:last] - rows.start)[filled]
            best = np.maximum.reduceat(sims, offsets, axis=1)  # (probe cylinders, templates)
            ranked = -np.partition(-best, top - 1, axis=0)[:top] if top < len(best) else best
            out[first:last][filled] = ranked.mean(axis=0)
        return out

    def _blocks(self) -> list[tuple[int, int]]:
        """Runs of whole templates whose cylinders add up to about _BLOCK_COLUMNS."""
        ends = np.cumsum(self._counts)
        blocks, first = [], 0
        while first < len(self._counts):
            base = ends[first - 1] if first else 0
            last = int(np.searchsorted(ends, base + _BLOCK_COLUMNS, side="right"))
            last = max(last, first + 1)
            blocks.append((first, last))
            first = last
        return blocks

    def search(self, probe: MccTemplate, shortlist: int | None = None) -> list[Hit]:
        """The shortlisted templates re-scored with full MCC, best first."""
        coarse = self.coarse_scores(probe)
        n = min(shortlist or self.params.shortlist, len(coarse))
        if n == 0 or probe.count == 0:
            return []
        chosen = np.argpartition(-coarse, n - 1)[:n] if n < len(coarse) else np.arange(len(coarse))
        hits = [
            Hit(self._keys[i], compare(probe, self._full[i].expand()), float(coarse[i]))
            for i in chosen
        ]
        return sorted(hits, key=lambda h: -h.score)

    def exhaustive(self, probe: MccTemplate) -> list[Hit]:
        """Full MCC against every template, best first: what the index is measured against."""
        coarse = self.coarse_scores(probe)
        hits = [
            Hit(key, compare(probe, full.expand()), float(c))
            for key, full, c in zip(self._keys, self._full, coarse, strict=True)
        ]
        return sorted(hits, key=lambda h: -h.score)

"""The first stage of the fingerprint index: every gallery cylinder's pooled vector in FAISS, and
for a probe the templates whose cylinders are among the nearest of the probe's cylinders.

This is the "local similarity sort" of Cappelli, Ferrara, Maltoni ("Fingerprint indexing based on
Minutia Cylinder-Code", TPAMI 33(5), 2011) with their binary LSH buckets replaced by a
nearest-neighbour search in FAISS: each probe cylinder retrieves its `neighbours` most similar
gallery cylinders (inner product of unit pooled vectors), those whose minutia turns by more than
delta_theta from the probe's are dropped, and a template's coarse score is the mean of its `top`
best probe-cylinder similarities (a probe cylinder that retrieved none of the template's counts 0).

Below `exact_until` cylinders the store is a flat index (exact neighbours); beyond, an IVF index
(k-means cells trained on the gallery's own cylinders, `probe_cells` cells searched), retrained
when the gallery has grown fourfold since. Each cylinder's FAISS id carries its template's serial
number, its row and its direction quantised to 64 bins, so the gate and the vote need no lookup.
The vectors live in FAISS only: a retraining reads them back from it (`held`).
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import numpy.typing as npt

DIRECTION_BINS = 64  # 6 bits of the id: a cylinder's direction to within 2.8 degrees
_ROW_BITS, _BIN_BITS = 10, 6  # rows beyond 1023 of one template are not indexed
_SERIAL_SHIFT = _ROW_BITS + _BIN_BITS
_IVF_CYLINDERS_PER_CELL = 400  # k-means cells: about this many gallery cylinders each
_TRAINING_PER_CELL = 40  # training sample per cell (FAISS warns below 39)
_MAX_CELLS = 4096  # k-means and assignment cost grow with the cells: bounds a 100k rebuild
_KMEANS_ROUNDS = 10


@dataclass(frozen=True)
class NeighbourParameters:
    """How the first stage searches."""

    neighbours: int = 256  # gallery cylinders retrieved per probe cylinder
    top: int = 6  # best probe cylinders averaged into a template's coarse score
    turn: float = np.pi / 2  # largest direction difference of comparable cylinders (delta_theta)
    exact_until: int = 20_000  # gallery cylinders searched exactly (flat); IVF beyond
    probe_cells: int = 16  # IVF cells searched per probe cylinder


def direction_bins(angles: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Minutia directions (radians) quantised to DIRECTION_BINS bins."""
    turns = np.mod(angles, 2 * np.pi) / (2 * np.pi)
    return np.minimum((turns * DIRECTION_BINS).astype(np.int64), DIRECTION_BINS - 1)


def cylinder_ids(serial: int, angles: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """FAISS ids of one template's cylinders: serial, row and direction bin packed."""
    rows = np.arange(min(len(angles), 1 << _ROW_BITS), dtype=np.int64)
    bins = direction_bins(angles[: len(rows)])
    return (np.int64(serial) << _SERIAL_SHIFT) | (rows << _BIN_BITS) | bins


def held(index: faiss.Index) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """(vectors, ids) a flat (IndexIDMap) or IVF index holds, read back from FAISS: the store
    keeps no copy of its vectors to retrain on."""
    if isinstance(index, faiss.IndexIDMap):
        return index.index.reconstruct_n(0, index.ntotal), faiss.vector_to_array(index.id_map)
    lists = index.invlists
    vectors, ids = [np.zeros((0, index.d), np.float32)], [np.zeros(0, np.int64)]
    for cell in range(index.nlist):
        size = lists.list_size(cell)
        if size:
            codes = faiss.rev_swig_ptr(lists.get_codes(cell), size * index.code_size)
            vectors.append(codes.view(np.float32).reshape(size, index.d).copy())
            ids.append(faiss.rev_swig_ptr(lists.get_ids(cell), size).copy())
    return np.concatenate(vectors), np.concatenate(ids)


class CylinderNeighbours:
    """Pooled cylinders of many templates (by serial number), searchable by nearest neighbours."""

    def __init__(self, dims: int, params: NeighbourParameters | None = None) -> None:
        self.dims, self.params = dims, params or NeighbourParameters()
        self._ids: dict[int, npt.NDArray[np.int64]] = {}
        self._count = 0
        self._trained_at = 0  # cylinders when the IVF was trained; 0 while flat
        self._index: faiss.Index = self._flat()

    def _flat(self) -> faiss.Index:
        return faiss.IndexIDMap(faiss.IndexFlatIP(self.dims))

    @property
    def cylinders(self) -> int:
        """Gallery cylinders held."""
        return self._count

    @property
    def nbytes(self) -> int:
        """Memory of the vectors (float32, in FAISS only) and ids held here and in FAISS."""
        return self._count * (self.dims * 4 + 8 * 3)

    def add(self, serials: list[int], vectors: list[npt.NDArray[np.float32]],
            angles: list[npt.NDArray[np.float64]]) -> None:  # fmt: skip
        """Index the pooled cylinders of templates new to this store."""
        ids = [cylinder_ids(s, a) for s, a in zip(serials, angles, strict=True)]
        kept = [v[: len(i)] for v, i in zip(vectors, ids, strict=True)]
        for serial, ident in zip(serials, ids, strict=True):
            self._ids[serial] = ident
            self._count += len(ident)
        if not ids or not sum(len(i) for i in ids):
            return
        vectors_new, ids_new = np.concatenate(kept).astype(np.float32), np.concatenate(ids)
        if self._needs_training():
            self._rebuild(vectors_new, ids_new)
        else:
            self._index.add_with_ids(vectors_new, ids_new)

    def remove(self, serials: list[int]) -> None:
        """Forget the cylinders of these templates."""
        gone = [self._ids.pop(s) for s in serials if s in self._ids]
        ids = np.concatenate(gone) if gone else np.zeros(0, np.int64)
        if len(ids):
            self._count -= len(ids)
            self._index.remove_ids(faiss.IDSelectorBatch(ids))

    def _needs_training(self) -> bool:
        if self._count < self.params.exact_until:
            return False
        return self._trained_at == 0 or self._count >= 4 * self._trained_at

    def _rebuild(self, vectors_new: npt.NDArray[np.float32], ids_new: npt.NDArray[np.int64]
                 ) -> None:  # fmt: skip
        """Train an IVF on the cylinders held and new ones (a seeded sample); add them all."""
        vectors, ids = held(self._index)
        vectors, ids = np.concatenate([vectors, vectors_new]), np.concatenate([ids, ids_new])
        order = np.argsort(ids)  # by serial, then row: the order the templates came in
        # float16-rounded, as the IVF has always been rebuilt, so its cells stay the same
        vectors = vectors[order].astype(np.float16).astype(np.float32)
        ids = ids[order]
        cells = max(16, len(vectors) // _IVF_CYLINDERS_PER_CELL)
        cells = min(_MAX_CELLS, 1 << int(np.log2(cells)))
        quantiser = faiss.IndexFlatIP(self.dims)
        index = faiss.IndexIVFFlat(quantiser, self.dims, cells, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(
            len(vectors), min(len(vectors), cells * _TRAINING_PER_CELL), replace=False
        )
        index.cp.seed, index.cp.niter = 1234, _KMEANS_ROUNDS
        index.train(vectors[np.sort(sample)])
        index.add_with_ids(vectors, ids)
        index.nprobe = min(self.params.probe_cells, cells)
        self._index, self._trained_at = index, len(vectors)

    def votes(self, query: npt.NDArray[np.float32], angles: npt.NDArray[np.float64]
              ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:  # fmt: skip
        """(serials, coarse scores) of every template that any probe cylinder retrieved."""
        if self._count == 0 or len(query) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        k = min(self.params.neighbours, self._count)
        sims, ids = self._index.search(np.ascontiguousarray(query, dtype=np.float32), k)
        probe_bins = direction_bins(angles)[:, None]
        gap = np.abs(((ids & (DIRECTION_BINS - 1)) - probe_bins + 32) % DIRECTION_BINS - 32)
        reach = self.params.turn / (2 * np.pi) * DIRECTION_BINS + 0.5  # bins of delta_theta
        usable = (ids >= 0) & (gap <= reach) & (sims > 0)
        rows, cols = np.nonzero(usable)
        serials, column = np.unique(ids[rows, cols] >> _SERIAL_SHIFT, return_inverse=True)
        best = np.zeros((len(query), len(serials)), np.float32)
        np.maximum.at(best, (rows, column), sims[rows, cols])
        top = min(self.params.top, len(query))
        ranked = -np.partition(-best, top - 1, axis=0)[:top] if top < len(best) else best
        return serials, ranked.mean(axis=0)

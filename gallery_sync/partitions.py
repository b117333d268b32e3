"""One (role, status) slice of the gallery, and the checks on what goes into or searches it.

A slice is an exact inner-product FAISS index keyed by template id: `IndexIDMap2` rather than
`IndexIDMap`, because moving a person between slices (a visitor who is banned) needs the stored
vectors back by id, and only IDMap2 can reconstruct them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import faiss
import numpy as np

ROLES = frozenset({"inmate", "staff", "visitor"})
STATUSES = frozenset({"active", "released", "transferred_out", "banned", "merged", "erased"})
UNIT_TOLERANCE = 1e-3  # |norm - 1| allowed on added vectors and on queries


class Partition:
    """Templates of one (role, status): exact cosine search, vectors recoverable by template id."""

    def __init__(self, dimension: int) -> None:
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._per_identity: Counter[str] = Counter()
        # How many identities hold each template count, so the widest person (who bounds how
        # many neighbours a search must fetch) is known without scanning every identity.
        self._count_histogram: Counter[int] = Counter()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(
        self, template_ids: np.ndarray, vectors: np.ndarray, identity_ids: Sequence[str]
    ) -> None:
        """Store vectors under their template ids (the caller has validated both)."""
        self._index.add_with_ids(vectors, template_ids)
        for identity_id in identity_ids:
            self._recount(identity_id, +1)

    def remove(self, template_ids: np.ndarray, identity_ids: Sequence[str]) -> None:
        """Drop templates; costs O(partition size) because FAISS compacts and re-maps ids."""
        self._index.remove_ids(faiss.IDSelectorBatch(template_ids))
        for identity_id in identity_ids:
            self._recount(identity_id, -1)

    def vectors(self, template_ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these template ids, one row each."""
        if len(template_ids) == 0:
            return np.empty((0, self._index.d), dtype=np.float32)
        return np.asarray(self._index.reconstruct_batch(template_ids), dtype=np.float32)

    def search(
        self, queries: np.ndarray, k: int, selected: np.ndarray | None = None
    ) -> list[list[tuple[float, int]]]:
        """Per query, (score, template id) of enough neighbours to yield k distinct people.

        `selected` limits the search to those template ids through a FAISS ID selector, which
        IndexIDMap2 applies to external ids, so only selected vectors are scored.
        """
        eligible = len(self) if selected is None else len(selected)
        fetch = min(eligible, k * self.widest_identity())
        if fetch == 0:
            return [[] for _ in range(len(queries))]
        params = None
        if selected is not None:
            selector = faiss.IDSelectorBatch(selected)  # referenced until the search returns
            params = faiss.SearchParameters()
            params.sel = selector
        scores, ids = self._index.search(queries, fetch, params=params)
        found = ids >= 0  # FAISS pads with -1 when fewer than `fetch` vectors are eligible
        return [
            list(zip(row_scores[mask].tolist(), row_ids[mask].tolist(), strict=True))
            for row_scores, row_ids, mask in zip(scores, ids, found, strict=True)
        ]

    def widest_identity(self) -> int:
        """The most templates any one identity has here (0 when empty).

        Fetching k times this many neighbours guarantees k distinct people survive the
        per-identity collapse, in one pass: a flat search costs the same whatever k is.
        """
        return max(self._count_histogram, default=0)

    def _recount(self, identity_id: str, delta: int) -> None:
        """Move one identity between template-count buckets of the histogram."""
        before = self._per_identity[identity_id]
        after = before + delta
        if before:
            self._count_histogram[before] -= 1
            if not self._count_histogram[before]:
                del self._count_histogram[before]
        if after:
            self._per_identity[identity_id] = after
            self._count_histogram[after] += 1
        else:
            del self._per_identity[identity_id]


def check_member(value: str, allowed: frozenset[str], what: str) -> None:
    """ValueError unless value is one of the allowed names."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")


def partition_filter(
    roles: Collection[str] | None, statuses: Collection[str] | None
) -> tuple[Collection[str], Collection[str]]:
    """Validated role and status filters; a typo must fail loudly, not silently match nothing."""
    chosen = []
    for values, allowed, what in ((roles, ROLES, "role"), (statuses, STATUSES, "status")):
        if values is None:
            chosen.append(allowed)
            continue
        if isinstance(values, str):
            raise ValueError(f"{what} filter must be a collection of names, not one string")
        for value in values:
            check_member(value, allowed, what)
        chosen.append(frozenset(values))
    return chosen[0], chosen[1]


def checked_vector(vector: np.ndarray, dimension: int, what: str) -> np.ndarray:
    """One finite unit-length float32 vector of the given dimension, or ValueError."""
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dimension,):
        raise ValueError(f"{what}: expected shape ({dimension},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what}: vector has NaN or infinite values")
    norm = float(np.linalg.norm(array))
    if abs(norm - 1.0) > UNIT_TOLERANCE:
        raise ValueError(f"{what}: vector is not L2-normalised (norm {norm:.6f})")
    return array


def checked_queries(query: np.ndarray, dimension: int) -> np.ndarray:
    """Queries as a C-contiguous (Q, D) float32 array; a non-unit query would skew cosine scores."""
    array = np.asarray(query, dtype=np.float32)
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    if rows.ndim != 2 or rows.shape[1] != dimension:
        raise ValueError(f"query: expected shape (D,) or (Q, D) with D={dimension}")
    for index, row in enumerate(rows):
        checked_vector(row, dimension, f"query {index}")
    return np.ascontiguousarray(rows)

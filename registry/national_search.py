"""The registry's national search: the exact gallery stays the truth, an IVF index (rebuilt now
and then from a snapshot of it) only proposes candidates once the gallery outgrows exact search.

`NationalSearch` wraps a `GalleryIndex` and offers the same methods, so the registry swaps it in
with one constructor line. Every mutation (add, remove, remove_identity, set_status, rebuild)
goes to the exact gallery unchanged. Above `exact_limit` templates it also keeps:

- a `NationalIndex` built from a snapshot of the gallery's vectors, in a background thread, when
  none exists yet or when the templates added or removed since the last snapshot exceed
  `rebuild_fraction` of it (never under the registry's write lock, nor under this object's lock
  while vectors are read or the index trained);
- a "delta": an exact flat index of every template added since that snapshot was taken.

A search asks the IVF and the delta for a shortlist of `k * shortlist_factor` templates, drops
those the exact gallery no longer holds or whose (role, status) fails the filter (its metadata
is the truth, so removals and status moves are respected at once), re-scores the survivors
with the gallery's stored vectors, keeps each person's best template, then scores those people by
their identity template, as `GalleryIndex.search` does (the shortlist is per capture: a person
none of whose captures reaches it is not scored, the approximation of this path). A row is
answered from its shortlist only when at least k people score at or above the
lowest score a full shortlist returned (so no unseen template could outrank them, up to the
IVF's measured recall); otherwise the shortlist is widened (x4) and, past `max_shortlist`, that
row is searched exactly. Exact search answers outright below the limit, while no index is built,
when the NationalIndex fell back (its held-out recall check failed), when the filter leaves at
most `exact_limit` templates (the gallery's partitions make that search cheap), and for
`only_identities` searches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Literal

import faiss
import numpy as np

from gallery_sync.gallery import Candidate, GalleryDiff, GalleryEntry, GalleryIndex, Metadata
from gallery_sync.partitions import checked_queries, partition_filter
from registry.national_index import NationalIndex, NationalIndexConfig

log = logging.getLogger(__name__)

SCORE_SLACK = 1e-5  # IVF and NumPy dot products of the same float32 vectors differ in the last ulps
WIDEN = 4
SNAPSHOT_CHUNK = 8192  # templates read per gallery lock hold while a snapshot is taken


class _Delta:
    """Templates added since the serving snapshot: exact inner-product search, by insertion order."""

    def __init__(self, dimension: int) -> None:
        self._dimension = dimension
        self._seq: dict[int, int] = {}  # template id -> sequence number of its addition
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray, seq: int) -> None:
        self._index.add_with_ids(vectors, ids)
        for tid in ids.tolist():
            self._seq[tid] = seq

    def keep_after(self, mark: int) -> None:
        """Drop the templates added at or before sequence `mark` (a new snapshot holds them)."""
        stale = [tid for tid, seq in self._seq.items() if seq <= mark]
        if stale:
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(stale, dtype=np.int64)))
            for tid in stale:
                del self._seq[tid]

    def clear(self) -> None:
        self._seq.clear()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dimension))

    def search(self, queries: np.ndarray, fetch: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(scores, ids, full): full means templates beyond the `fetch` returned may exist."""
        if len(self) == 0:
            empty = np.empty((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64), False
        fetch = min(fetch, len(self))
        scores, ids = self._index.search(queries, fetch)
        return scores, ids, fetch < len(self)


class NationalSearch:
    """A `GalleryIndex` whose search uses a checked approximate index above `exact_limit`."""

    def __init__(
        self,
        gallery: GalleryIndex,
        config: NationalIndexConfig | None = None,
        *,
        rebuild_fraction: float = 0.1,
        shortlist_factor: int = 20,
        max_shortlist: int = 4096,
        background: bool = True,
    ) -> None:
        if rebuild_fraction <= 0 or shortlist_factor < 1 or max_shortlist < 1:
            raise ValueError(
                "rebuild_fraction, shortlist_factor and max_shortlist must be positive"
            )
        self.gallery = gallery
        self.config = config or NationalIndexConfig()
        self.rebuild_fraction = rebuild_fraction
        self.shortlist_factor = shortlist_factor
        self.max_shortlist = max_shortlist
        self.background = background
        self._lock = threading.RLock()
        self._ann: NationalIndex | None = None
        self._ann_size = 0
        self._delta = _Delta(gallery.dimension)
        self._seq = 0  # additions so far; the delta keeps those after the serving snapshot's mark
        self._changes = 0  # templates added or removed since the last snapshot was taken
        self._generation = 0  # bumped by rebuild: a build from an older gallery is thrown away
        self._builder: threading.Thread | None = None
        self.rows_answered = {"approximate": 0, "exact": 0}  # query rows, since construction

    # --- what the registry calls: mutations go to the exact gallery -------------------------

    @property
    def dimension(self) -> int:
        """Length of every template vector."""
        return self.gallery.dimension

    def __len__(self) -> int:
        return len(self.gallery)

    @property
    def mode(self) -> Literal["exact", "approximate"]:
        """Whether unfiltered searches go through the approximate index now."""
        with self._lock:
            ann = self._ann
            return "approximate" if ann is not None and ann.mode == "approximate" else "exact"

    @property
    def ann(self) -> NationalIndex | None:
        """The serving approximate index (None below the limit or before the first build)."""
        return self._ann

    def add(self, entries: Sequence[GalleryEntry]) -> None:
        """Add to the exact gallery, then to the delta (vectors as the gallery accepted them)."""
        with self._lock:
            self.gallery.add(entries)
            if entries:
                ids = np.asarray([e.template_id for e in entries], dtype=np.int64)
                vectors = np.stack([np.asarray(e.vector, dtype=np.float32) for e in entries])
                self._seq += 1
                self._delta.add(ids, np.ascontiguousarray(vectors), self._seq)
                self._changes += len(entries)
            self._maybe_build()

    def rebuild(self, entries: Iterable[GalleryEntry]) -> None:
        """Replace the gallery; the approximate index is dropped and built again from it."""
        with self._lock:
            self.gallery.rebuild(entries)
            self._generation += 1
            self._ann, self._ann_size, self._changes = None, 0, 0
            self._delta.clear()
            self._maybe_build()

    def remove(self, template_ids: Iterable[int]) -> int:
        """Remove from the exact gallery (searches drop the ids at once); count toward a rebuild."""
        with self._lock:
            removed = self.gallery.remove(template_ids)
            self._changes += removed
            self._maybe_build()
            return removed

    def remove_identity(self, identity_id: str) -> int:
        """Remove every template of one person (see `remove`)."""
        with self._lock:
            removed = self.gallery.remove_identity(identity_id)
            self._changes += removed
            self._maybe_build()
            return removed

    def set_status(self, identity_id: str, status: str) -> int:
        """Move a person in the exact gallery; searches read status from it, so nothing else."""
        with self._lock:
            return self.gallery.set_status(identity_id, status)

    def best_score_for(self, query: np.ndarray, identity_id: str) -> float | None:
        """1:1 against one person: the exact gallery's answer."""
        return self.gallery.best_score_for(query, identity_id)

    def snapshot(self) -> dict[int, Metadata]:
        """template_id -> (identity_id, role, status), from the exact gallery."""
        return self.gallery.snapshot()

    def vector(self, template_id: int) -> np.ndarray:
        """A stored vector, from the exact gallery."""
        return self.gallery.vector(template_id)

    def counts(self) -> dict[tuple[str, str], int]:
        """Templates per (role, status), from the exact gallery."""
        return self.gallery.counts()

    def compare_with(self, expected: Mapping[int, tuple[str, str, str, np.ndarray]]) -> GalleryDiff:
        """The exact gallery against the database rows."""
        return self.gallery.compare_with(expected)

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background build in progress has finished (tests, benchmarks)."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)

    # --- search -------------------------------------------------------------------------

    def search(
        self,
        query: np.ndarray,
        k: int,
        roles: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        only_identities: Collection[str] | None = None,
    ) -> list[list[Candidate]]:
        """As `GalleryIndex.search`: per query row, the k best people, best first."""
        queries = checked_queries(query, self.dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        wanted_roles, wanted_statuses = partition_filter(roles, statuses)
        with self._lock:
            ann = self._ann
            eligible = sum(
                count
                for (role, status), count in self.gallery.counts().items()
                if role in wanted_roles and status in wanted_statuses
            )
            if (
                ann is None
                or ann.mode != "approximate"
                or only_identities is not None
                or eligible <= self.config.exact_limit
            ):
                return self.gallery.search(queries, k, roles, statuses, only_identities)
            return self._search_approximate(ann, queries, k, roles, statuses)

    def _search_approximate(
        self,
        ann: NationalIndex,
        queries: np.ndarray,
        k: int,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
    ) -> list[list[Candidate]]:
        """Shortlists from the IVF and the delta, checked against the exact gallery's truth."""
        wanted_roles, wanted_statuses = partition_filter(roles, statuses)
        meta: dict[int, Metadata] = {}
        vectors: dict[int, np.ndarray] = {}
        results: list[list[Candidate] | None] = [None] * len(queries)
        pending = np.arange(len(queries))
        fetch = k * self.shortlist_factor
        while len(pending) and fetch <= self.max_shortlist:
            rows = queries[pending]
            ivf_scores, ivf_ids = ann.search(rows, fetch)
            delta_scores, delta_ids, delta_full = self._delta.search(rows, fetch)
            self._read_shortlisted(np.concatenate([ivf_ids, delta_ids], axis=1), meta, vectors)
            widen, exact = [], []
            for i, row in enumerate(pending.tolist()):
                ivf_full = bool(ivf_ids[i, -1] >= 0)
                cutoff = max(
                    float(ivf_scores[i, -1]) if ivf_full else -np.inf,
                    float(delta_scores[i, -1]) if delta_full else -np.inf,
                )
                shortlist = [t for t in (*ivf_ids[i].tolist(), *delta_ids[i].tolist()) if t >= 0]
                best = self._best_per_identity(
                    queries[row], shortlist, meta, vectors, wanted_roles, wanted_statuses
                )
                if sum(1 for _, (score, _) in best if score >= cutoff + SCORE_SLACK) >= k:
                    results[row] = self._by_identity(queries[row], best, meta, k)
                    self.rows_answered["approximate"] += 1
                elif ivf_full or delta_full:
                    widen.append(row)  # more templates lie beyond a full shortlist
                else:
                    exact.append(row)  # fewer than k people in reach: only exact search can say
            self._exact_rows(queries, k, roles, statuses, results, exact)
            pending = np.asarray(widen, dtype=np.int64)
            fetch *= WIDEN
        if len(pending):
            self._exact_rows(queries, k, roles, statuses, results, pending.tolist())
        return [found if found is not None else [] for found in results]

    def _read_shortlisted(
        self, ids: np.ndarray, meta: dict[int, Metadata], vectors: dict[int, np.ndarray]
    ) -> None:
        """The gallery's truth (metadata, stored vector) for shortlisted ids not yet read: two
        short lock holds, never a copy of the whole gallery's metadata."""
        wanted = [tid for tid in np.unique(ids[ids >= 0]).tolist() if tid not in meta]
        meta.update(self.gallery.metadata_of(wanted))
        held, stored = self.gallery.vectors_of([tid for tid in wanted if tid in meta])
        vectors.update(zip(held.tolist(), stored, strict=True))

    def _best_per_identity(
        self,
        query: np.ndarray,
        shortlist: list[int],
        meta: Mapping[int, Metadata],
        vectors: Mapping[int, np.ndarray],
        roles: Collection[str],
        statuses: Collection[str],
    ) -> list[tuple[str, tuple[float, int]]]:
        """Live, filter-matching templates re-scored exactly; each person's best, best first."""
        live = [
            tid
            for tid in dict.fromkeys(shortlist)
            if tid in vectors  # absent: removed since the index was built or since `meta` was read
            and meta[tid][1] in roles
            and meta[tid][2] in statuses
        ]
        if not live:
            return []
        scores = np.stack([vectors[tid] for tid in live]) @ query
        best: dict[str, tuple[float, int]] = {}
        for tid, score in zip(live, scores.tolist(), strict=True):
            owner = meta[tid][0]
            if owner not in best or score > best[owner][0]:
                best[owner] = (score, tid)
        return sorted(best.items(), key=lambda item: (-item[1][0], item[0]))

    def _by_identity(
        self,
        query: np.ndarray,
        shortlisted: list[tuple[str, tuple[float, int]]],
        meta: Mapping[int, Metadata],
        k: int,
    ) -> list[Candidate]:
        """The shortlisted people re-scored by identity template (as the exact search scores
        them), the k best; each keeps their best capture and its score as evidence."""
        found = []
        for identity_id, (capture_score, tid) in shortlisted:
            vector = self.gallery.identity_vector(identity_id)
            if vector is None:  # removed since the shortlist was read
                continue
            score = float(vector @ query)
            found.append(Candidate(identity_id, tid, score, meta[tid][1], meta[tid][2],
                                   capture_score, score))  # fmt: skip
        return sorted(found, key=lambda c: (-c.score, c.identity_id))[:k]

    def _exact_rows(
        self,
        queries: np.ndarray,
        k: int,
        roles: Collection[str] | None,
        statuses: Collection[str] | None,
        results: list[list[Candidate] | None],
        rows: list[int],
    ) -> None:
        """Answer these rows with the exact gallery."""
        ordered = sorted(rows)
        if not ordered:
            return
        found = self.gallery.search(queries[ordered], k, roles, statuses)
        self.rows_answered["exact"] += len(ordered)
        for row, candidates in zip(ordered, found, strict=True):
            results[row] = candidates

    # --- the approximate index's lifecycle ----------------------------------------------

    def _maybe_build(self) -> None:
        """Start a snapshot build when one is due (called with the lock held)."""
        if len(self.gallery) <= self.config.exact_limit:
            if self._ann is not None:
                log.info("national gallery back under the exact limit: exact search only")
            self._ann, self._ann_size = None, 0
            if self._builder is None:
                self._delta.clear()
            return
        if self._builder is not None:
            return
        if self._ann is not None and self._changes <= self.rebuild_fraction * self._ann_size:
            return
        meta = self.gallery.snapshot()
        args = (self._generation, self._seq, meta)
        self._changes = 0
        if self.background:
            self._builder = threading.Thread(
                target=self._build, args=args, name="national-ivf-build", daemon=True
            )
            self._builder.start()
        else:
            self._build(*args)

    def _read_snapshot(self, template_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The snapshot's vectors into one array, a chunk per gallery lock hold, so writes
        interleave; templates removed meanwhile are left out."""
        vectors = np.empty((len(template_ids), self.dimension), dtype=np.float32)
        ids = np.empty(len(template_ids), dtype=np.int64)
        filled = 0
        for start in range(0, len(template_ids), SNAPSHOT_CHUNK):
            held, chunk = self.gallery.vectors_of(template_ids[start : start + SNAPSHOT_CHUNK])
            vectors[filled : filled + len(held)] = chunk
            ids[filled : filled + len(held)] = held
            filled += len(held)
        return ids[:filled], vectors[:filled]

    def _build(self, generation: int, mark: int, meta: Mapping[int, Metadata]) -> None:
        """Read the snapshot's vectors, build and check the index, then swap it in."""
        try:
            ids, vectors = self._read_snapshot(list(meta))
            index = NationalIndex(self.dimension, self.config)
            report = index.build(ids, vectors)
            del vectors  # the index holds its own copy; this one would double the peak
            log.info("national IVF index built: %s (%s)", report.mode, report.reason)
        except Exception:
            log.exception("national IVF index build failed: exact search continues")
            index = None
        with self._lock:
            self._builder = None
            if generation != self._generation or index is None:
                return
            if len(self.gallery) > self.config.exact_limit:
                self._ann, self._ann_size = index, len(index)
                self._delta.keep_after(mark)
            self._maybe_build()

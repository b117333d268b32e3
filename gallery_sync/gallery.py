"""The site gallery: enrolled templates searched by exact cosine, one FAISS index per (role, status).

A person is scored as one identity: beside their capture templates the gallery keeps an identity
template, the normalised mean of their captures (models/openset.py), in a second set of
partitions, recomputed in the same call as every change to that person's templates (add, remove,
status change, rebuild), so it is always in step with the database like the templates are.
1:N searches rank people by the identity template (open-set: it misses fewer enrolled people at
the same false-alarm rate than the best single capture, NOTES.md); each candidate also carries
its best capture and that capture's score as evidence. 1:1 (`best_score_for`) stays per capture,
at the FMR thresholds of the pack's calibration.

The database is the truth; this index is a projection of it. The caller calls `add`, `remove`,
`set_status` and `remove_identity` in the same code path as each database change, `rebuild` on
start, and `compare_with` to check the two agree (`gerbang gallery check`).

Thread safety: one `RLock` serialises every mutation and every search. A flat search releases the
GIL, so overlapping searches could use both cores of a gate box, but a reader-writer lock is not in
the standard library and a search of 10k 512-d templates takes about 1.5 ms: hundreds of queries a
second, far more than gates and enrolment desks produce. Serialising keeps FAISS away from a
concurrent add, which it does not tolerate.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import faiss
import numpy as np

from gallery_sync.partitions import (
    ROLES,
    STATUSES,
    Partition,
    check_member,
    checked_queries,
    checked_vector,
    partition_filter,
)
from models.cohort import CohortNorm
from models.openset import identity_template

VECTOR_TOLERANCE = 1e-5  # largest element difference `compare_with` accepts

# One search over a few thousand vectors takes well under a millisecond; OpenMP's thread team
# only adds wake-up stalls on a busy 2-core gate box (measured: identify p50 51 ms with 2 threads,
# 18 ms with 1, bench/site_service.py). Callers may raise it for a large central gallery.
faiss.omp_set_num_threads(1)
_MAX_TEMPLATE_ID = 2**63 - 1  # FAISS ids are int64; -1 means "no result", so ids start at 1

Metadata = tuple[str, str, str]  # (identity_id, role, status)
PartitionKey = tuple[str, str]  # (role, status)


class GalleryEntry(NamedTuple):
    """One template as stored in the database."""

    template_id: int
    identity_id: str
    role: str
    status: str
    vector: np.ndarray


class Candidate(NamedTuple):
    """One person found by a search: the score decided on (the identity template's cosine, its
    S-norm, or the best capture's in a per-capture search), their best-scoring capture and its
    own score."""

    identity_id: str
    template_id: int
    score: float
    role: str
    status: str
    capture_score: float | None = None
    raw_score: float | None = None  # the identity template's cosine, when `score` is S-norm


@dataclass(frozen=True)
class GalleryDiff:
    """Template ids on which the index and the database disagree."""

    missing_in_index: list[int] = field(default_factory=list)
    extra_in_index: list[int] = field(default_factory=list)
    wrong_metadata: list[int] = field(default_factory=list)
    wrong_vector: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the index matches the database exactly."""
        return not (
            self.missing_in_index or self.extra_in_index or self.wrong_metadata or self.wrong_vector
        )


class GalleryIndex:
    """Templates of enrolled people, partitioned by (role, status), searched per identity."""

    def __init__(self, dimension: int) -> None:
        if dimension < 1:
            raise ValueError(f"gallery dimension must be positive, got {dimension}")
        self._dimension = dimension
        self._lock = threading.RLock()
        self._partitions: dict[PartitionKey, Partition] = {}
        self._meta: dict[int, Metadata] = {}
        self._by_identity: dict[str, set[int]] = {}
        # Identity templates: one vector per person, in partitions of their own.
        self._means: dict[PartitionKey, Partition] = {}
        self._mean_id: dict[str, int] = {}
        self._mean_owner: dict[int, str] = {}
        self._mean_key: dict[str, PartitionKey] = {}
        self._next_mean_id = 1
        self._version = 0  # bumped by every change: callers tell when to recompute derived data
        self._listeners: list[Callable[[GalleryIndex], None]] = []
        self._deferred = threading.local()  # per thread: depth of listeners_after, and a change

    def subscribe(self, listener: Callable[[GalleryIndex], None]) -> None:
        """Call `listener(gallery)` after every change, outside the lock, in the changing thread
        (the enrolment, sync or admin path, never a search)."""
        self._listeners.append(listener)

    @contextmanager
    def listeners_after(self) -> Iterator[None]:
        """Within the block, changes made by this thread tell the listeners once, at its end:
        a re-projection inside a database read must not recalibrate while holding it."""
        depth = getattr(self._deferred, "depth", 0)
        self._deferred.depth = depth + 1
        try:
            yield
        finally:
            self._deferred.depth = depth
            if depth == 0 and getattr(self._deferred, "pending", False):
                self._deferred.pending = False
                self._changed()

    def _changed(self) -> None:
        if getattr(self._deferred, "depth", 0):
            self._deferred.pending = True
            return
        for listener in list(self._listeners):
            listener(self)

    @property
    def version(self) -> int:
        """A counter of template changes (adds, removals, moves, rebuilds)."""
        return self._version

    @property
    def dimension(self) -> int:
        """Length of every template vector."""
        return self._dimension

    def __len__(self) -> int:
        with self._lock:
            return len(self._meta)

    def add(self, entries: Sequence[GalleryEntry]) -> None:
        """Add templates; the whole batch is refused (ValueError) if any entry is invalid."""
        with self._lock:
            ids, vectors = self._validated(entries)
            metas = [(e.identity_id, e.role, e.status) for e in entries]
            self._insert(ids, vectors, metas)
        self._changed()

    def rebuild(self, entries: Iterable[GalleryEntry]) -> None:
        """Replace the whole gallery; searches see the old one until the new one is complete."""
        fresh = GalleryIndex(self._dimension)
        fresh.add(list(entries))
        with self._lock:
            self._partitions, self._meta = fresh._partitions, fresh._meta
            self._by_identity = fresh._by_identity
            self._means, self._mean_id = fresh._means, fresh._mean_id
            self._mean_owner, self._mean_key = fresh._mean_owner, fresh._mean_key
            self._next_mean_id = fresh._next_mean_id
            self._version += max(1, len(self._meta))
        self._changed()

    def remove(self, template_ids: Iterable[int]) -> int:
        """Remove templates by id; unknown ids are ignored. Returns how many were removed."""
        with self._lock:
            known = [t for t in dict.fromkeys(template_ids) if t in self._meta]
            self._delete(known)
        if known:
            self._changed()
        return len(known)

    def remove_identity(self, identity_id: str) -> int:
        """Remove every template of one person. Returns how many were removed."""
        with self._lock:
            held = list(self._by_identity.get(identity_id, ()))
        return self.remove(held)

    def set_status(self, identity_id: str, status: str) -> int:
        """Move one person's templates to another status. Returns how many moved.

        Costs a FAISS removal from the old partition, O(its size): about 50 ms at 100k 512-d.
        """
        check_member(status, STATUSES, "status")
        with self._lock:
            ids = sorted(self._by_identity.get(identity_id, ()))
            if not ids or self._meta[ids[0]][2] == status:
                return 0
            _, role, old_status = self._meta[ids[0]]
            id_array = np.asarray(ids, dtype=np.int64)
            vectors = self._partitions[(role, old_status)].vectors(id_array)
            self._delete(ids)
            self._insert(id_array, vectors, [(identity_id, role, status)] * len(ids))
        self._changed()
        return len(ids)

    def replace_identity(self, identity_id: str, entries: Sequence[GalleryEntry]) -> bool:
        """Make the gallery hold exactly `entries` for one person, in one step: a search sees the
        person as before or as after, never half-way. Only what differs moves (a template, a
        vector, the role or status), so re-projecting an unchanged person costs a comparison of
        their few vectors. A template id held for someone else (an id the database gave again
        after deleting its newest row) moves to this person. Returns whether anything changed;
        an invalid entry (ValueError) changes nothing."""
        if not isinstance(identity_id, str) or not identity_id:
            raise ValueError("identity id must be a non-empty string")
        if any(entry.identity_id != identity_id for entry in entries):
            raise ValueError(f"every entry must belong to {identity_id}")
        wanted = {entry.template_id: entry for entry in entries}
        if len(wanted) != len(entries):
            raise ValueError(f"{identity_id}: a template id appears twice")
        keys = {(entry.role, entry.status) for entry in entries}
        if len(keys) > 1:
            raise ValueError(f"{identity_id}: its templates disagree on role or status")
        with self._lock:
            held = self._by_identity.get(identity_id, set())
            same_key = not held or not keys or keys == {self._key_of(min(held))}
            # An id the database gave again to this person's new capture (a re-enrolment that
            # replaced the newest rows) holds another vector: it moves like a new template.
            common = sorted(held & wanted.keys()) if same_key else []
            redone = set(self._differing_vectors(common, {t: wanted[t].vector for t in common}))
            leaving = [t for t in held if not same_key or t not in wanted or t in redone]
            arriving = [
                e for t, e in wanted.items() if not same_key or t not in held or t in redone
            ]
            elsewhere = [e.template_id for e in arriving if e.template_id in self._meta
                         and self._meta[e.template_id][0] != identity_id]  # fmt: skip
            vectors = self._checked_arrivals(arriving)  # before anything moves
            if not (leaving or arriving):
                return False
            self._delete(leaving + elsewhere)
            if arriving:
                ids = np.asarray([e.template_id for e in arriving], dtype=np.int64)
                metas = [(identity_id, e.role, e.status) for e in arriving]
                self._insert(ids, vectors, metas)
        self._changed()
        return True

    def _checked_arrivals(self, entries: Sequence[GalleryEntry]) -> np.ndarray:
        """The stacked vectors of templates about to be inserted, or ValueError naming one."""
        vectors = np.empty((len(entries), self._dimension), dtype=np.float32)
        for row, entry in enumerate(entries):
            tid = entry.template_id
            integer = isinstance(tid, int | np.integer) and not isinstance(tid, bool)
            if not integer or not 1 <= tid <= _MAX_TEMPLATE_ID:
                raise ValueError(f"template id must be a positive int64, got {tid!r}")
            check_member(entry.role, ROLES, "role")
            check_member(entry.status, STATUSES, "status")
            vectors[row] = checked_vector(entry.vector, self._dimension, f"template {tid}")
        return vectors

    def search(
        self,
        query: np.ndarray,
        k: int,
        roles: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        only_identities: Collection[str] | None = None,
        by: str = "identity",
        cohort: CohortNorm | None = None,
    ) -> list[list[Candidate]]:
        """For each query row, the k best-matching people, best first.

        `by="identity"` (the service's decisions) ranks people by their identity template;
        `by="capture"` by their best single capture. A 1-d query is one row. `None` filters mean
        "any"; `only_identities` limits the search to those people (unknown ones are ignored).
        With a `cohort` (identity searches only) every person selected is scored and ranked by
        S-norm against it (models/cohort.py): the normalisation reorders people, so no shortlist
        by raw cosine would be exact. The score is then the normalised one, and `raw_score` the
        identity template's cosine.
        """
        queries = checked_queries(query, self._dimension)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if by not in ("identity", "capture"):
            raise ValueError(f"by must be 'identity' or 'capture', got {by!r}")
        if cohort is not None and by != "identity":
            raise ValueError("cohort normalisation scores identities, not captures")
        keys_wanted = partition_filter(roles, statuses)
        with self._lock:
            if by == "identity":
                return self._search_identities(queries, k, keys_wanted, only_identities, cohort)
            hits: list[list[tuple[float, int]]] = [[] for _ in range(len(queries))]
            for partition, selected in self._targets(keys_wanted, only_identities):
                for row_hits, found in zip(
                    hits, partition.search(queries, k, selected), strict=True
                ):
                    row_hits.extend(found)
            return [self._best_per_identity(row_hits, k) for row_hits in hits]

    def people(
        self,
        roles: Collection[str] | None = None,
        statuses: Collection[str] | None = None,
        only_identities: Collection[str] | None = None,
    ) -> int:
        """How many people a search with these filters scores (the N of its FPIR)."""
        roles_wanted, statuses_wanted = partition_filter(roles, statuses)
        with self._lock:
            if only_identities is not None:
                return sum(
                    1
                    for person in set(only_identities)
                    if (key := self._mean_key.get(person)) is not None
                    and key[0] in roles_wanted
                    and key[1] in statuses_wanted
                )
            return sum(
                len(p)
                for key, p in self._means.items()
                if key[0] in roles_wanted and key[1] in statuses_wanted
            )

    def identity_statuses(self, people: Iterable[str]) -> dict[str, str]:
        """person -> status of those of these people still held."""
        with self._lock:
            return {p: key[1] for p in people if (key := self._mean_key.get(p)) is not None}

    def partition_of(self, identity_id: str) -> tuple[str, str] | None:
        """(role, status) of a person with templates, or None (a fused search's filter)."""
        with self._lock:
            return self._mean_key.get(identity_id)

    def identity_vector(self, identity_id: str) -> np.ndarray | None:
        """A person's identity template (None if they have no templates)."""
        with self._lock:
            mean_id = self._mean_id.get(identity_id)
            return None if mean_id is None else self._mean_vectors([mean_id])[0]

    def identity_score(
        self, query: np.ndarray, identity_id: str, cohort: CohortNorm | None = None
    ) -> tuple[float, float] | None:
        """(score on the search's scale, raw cosine) of a query against a person's identity
        template: S-norm against `cohort` when given (as search ranks them), else the cosine."""
        with self._lock:
            mean_id = self._mean_id.get(identity_id)
            if mean_id is None:
                return None
            raw = float(np.dot(self._mean_vectors([mean_id])[0], query))
            if cohort is None:
                return raw, raw
            score = self._normalised(np.asarray(query, dtype=np.float32), [(raw, mean_id)], cohort)
            return float(score[0][0]), raw

    def _search_identities(
        self,
        queries: np.ndarray,
        k: int,
        wanted: tuple[Collection[str], Collection[str]],
        only: Collection[str] | None,
        cohort: CohortNorm | None = None,
    ) -> list[list[Candidate]]:
        """Rank people by identity template (S-normalised against `cohort` when given); attach
        each one's best capture (lock held)."""
        roles, statuses = wanted
        keys = [key for key in self._means if key[0] in roles and key[1] in statuses]
        targets: list[tuple[Partition, np.ndarray | None]]
        if only is None:
            targets = [(self._means[key], None) for key in keys]
        else:
            if isinstance(only, str):
                raise ValueError("only_identities must be a collection of ids, not one string")
            ids_by_key: dict[PartitionKey, list[int]] = defaultdict(list)
            for person in set(only):
                if person in self._mean_id:
                    ids_by_key[self._mean_key[person]].append(self._mean_id[person])
            targets = [
                (self._means[key], np.asarray(ids_by_key[key], dtype=np.int64))
                for key in keys
                if ids_by_key.get(key)
            ]
        hits: list[list[tuple[float, int]]] = [[] for _ in range(len(queries))]
        for partition, selected in targets:
            every = len(partition) if selected is None else len(selected)
            wanted_k = k if cohort is None else max(every, 1)
            for row_hits, found in zip(
                hits, partition.search(queries, wanted_k, selected), strict=True
            ):
                row_hits.extend(found)
        out = []
        for query, row_hits in zip(queries, hits, strict=True):
            scored = [(score, mid, score) for score, mid in row_hits]
            if cohort is not None:
                scored = self._normalised(query, row_hits, cohort)
            ranked = sorted(
                ((score, self._mean_owner[mid], raw) for score, mid, raw in scored),
                key=lambda item: (-item[0], item[1]),
            )[:k]
            out.append(
                [
                    self._with_best_capture(query, person, score, raw)
                    for score, person, raw in ranked
                ]
            )
        return out

    def _normalised(
        self, query: np.ndarray, hits: list[tuple[float, int]], cohort: CohortNorm
    ) -> list[tuple[float, int, float]]:
        """One query's (raw cosine, identity-template id) hits as (S-norm score, id, raw)."""
        if not hits:
            return []
        raw = np.asarray([score for score, _ in hits], dtype=np.float64)
        mean_ids = [mid for _, mid in hits]
        people = [self._mean_owner[mid] for mid in mean_ids]
        terms = cohort.cached_terms(mean_ids, people, self._mean_vectors)
        scores = cohort.normalise(query, raw[None, :], cohort.member_index(people), terms)[0]
        return list(zip(scores.tolist(), mean_ids, raw.tolist(), strict=True))

    def _mean_vectors(self, mean_ids: Sequence[object]) -> np.ndarray:
        """Identity templates by their ids (lock held)."""
        out = np.empty((len(mean_ids), self._dimension), dtype=np.float32)
        for row, mid in enumerate(mean_ids):
            key = self._mean_key[self._mean_owner[int(mid)]]  # type: ignore[call-overload]
            out[row] = self._means[key].vectors(np.asarray([mid], dtype=np.int64))[0]
        return out

    def _with_best_capture(
        self, query: np.ndarray, person: str, score: float, raw: float
    ) -> Candidate:
        """A person found by identity template, with their best capture for the evidence."""
        ids = np.asarray(sorted(self._by_identity[person]), dtype=np.int64)
        role, status = self._mean_key[person]
        scores = self._partitions[(role, status)].vectors(ids) @ query
        best = int(np.argmax(scores))
        return Candidate(person, int(ids[best]), score, role, status, float(scores[best]), raw)

    def best_score_for(self, query: np.ndarray, identity_id: str) -> float | None:
        """1:1: the best cosine of a query against one person's templates (None if they have none).

        Reads that person's few vectors back and scores them directly; a filtered FAISS search
        would scan the whole partition to score three to five templates.
        """
        q = checked_queries(query, self._dimension)[0]
        with self._lock:
            ids = sorted(self._by_identity.get(identity_id, ()))
            if not ids:
                return None
            key = self._key_of(ids[0])  # one person's templates share one (role, status)
            vectors = self._partitions[key].vectors(np.asarray(ids, dtype=np.int64))
        return float(np.max(vectors @ q))

    def snapshot(self) -> dict[int, Metadata]:
        """template_id → (identity_id, role, status) of every template held."""
        with self._lock:
            return dict(self._meta)

    def vector(self, template_id: int) -> np.ndarray:
        """The stored vector of one template (KeyError if absent)."""
        with self._lock:
            if template_id not in self._meta:
                raise KeyError(f"template {template_id} is not in the gallery")
            ids = np.asarray([template_id], dtype=np.int64)
            stored: np.ndarray = self._partitions[self._key_of(template_id)].vectors(ids)[0]
            return stored

    def metadata_of(self, template_ids: Iterable[int]) -> dict[int, Metadata]:
        """template_id → (identity_id, role, status) of those of these ids still held."""
        with self._lock:
            return {tid: self._meta[tid] for tid in template_ids if tid in self._meta}

    def vectors_of(self, template_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(ids still held, their vectors) for these template ids, in their given order; one
        lock hold and one FAISS call per partition, where `vector` would take one per id."""
        with self._lock:
            held = [tid for tid in template_ids if tid in self._meta]
            out = np.empty((len(held), self.dimension), dtype=np.float32)
            rows_by_key: dict[PartitionKey, list[int]] = {}
            for row, tid in enumerate(held):
                rows_by_key.setdefault(self._key_of(tid), []).append(row)
            ids = np.asarray(held, dtype=np.int64)
            for key, rows in rows_by_key.items():
                out[rows] = self._partitions[key].vectors(ids[rows])
        return ids, out

    def counts(self) -> dict[PartitionKey, int]:
        """Number of templates per non-empty (role, status)."""
        with self._lock:
            return {key: len(p) for key, p in self._partitions.items() if len(p)}

    def compare_with(self, expected: Mapping[int, tuple[str, str, str, np.ndarray]]) -> GalleryDiff:
        """Differences between this index and the database rows (template_id → metadata, vector)."""
        with self._lock:
            held, wanted = self._meta.keys(), expected.keys()
            common = sorted(held & wanted)
            return GalleryDiff(
                missing_in_index=sorted(wanted - held),
                extra_in_index=sorted(held - wanted),
                wrong_metadata=[t for t in common if self._meta[t] != tuple(expected[t][:3])],
                wrong_vector=self._differing_vectors(common, {t: expected[t][3] for t in common}),
            )

    def _validated(self, entries: Sequence[GalleryEntry]) -> tuple[np.ndarray, np.ndarray]:
        """Template ids and stacked float32 vectors of a batch, or ValueError naming the culprit."""
        seen: set[int] = set()
        people: dict[str, PartitionKey] = {}
        for entry in entries:
            self._check_entry_metadata(entry, seen, people)
        ids = np.asarray([e.template_id for e in entries], dtype=np.int64)
        return ids, self._checked_arrivals(entries)

    def _check_entry_metadata(
        self, entry: GalleryEntry, seen: set[int], people: dict[str, PartitionKey]
    ) -> None:
        """Refuse a bad or duplicate id, an unknown role or status, or a person split in two."""
        tid = entry.template_id
        integer = isinstance(tid, int | np.integer) and not isinstance(tid, bool)
        if not integer or not 1 <= tid <= _MAX_TEMPLATE_ID:
            raise ValueError(f"template id must be a positive int64, got {tid!r}")
        if tid in seen or tid in self._meta:
            raise ValueError(f"template {tid} is already in the gallery (duplicate id)")
        seen.add(tid)
        if not isinstance(entry.identity_id, str) or not entry.identity_id:
            raise ValueError(f"template {tid}: identity id must be a non-empty string")
        check_member(entry.role, ROLES, "role")
        check_member(entry.status, STATUSES, "status")
        # The database keeps role and status on the identity, so all its templates must agree.
        key = (entry.role, entry.status)
        held = self._by_identity.get(entry.identity_id)
        known = people.setdefault(entry.identity_id, self._key_of(min(held)) if held else key)
        if known != key:
            raise ValueError(
                f"template {tid}: identity {entry.identity_id} is {known[0]}/{known[1]}, "
                f"not {entry.role}/{entry.status}; use set_status to change it"
            )

    def _insert(self, ids: np.ndarray, vectors: np.ndarray, metas: Sequence[Metadata]) -> None:
        """Put validated templates into their partitions and the id maps."""
        rows_by_key: dict[PartitionKey, list[int]] = defaultdict(list)
        for row, (_, role, status) in enumerate(metas):
            rows_by_key[(role, status)].append(row)
        for key, rows in rows_by_key.items():
            partition = self._partitions.setdefault(key, Partition(self._dimension))
            partition.add(ids[rows], vectors[rows], [metas[r][0] for r in rows])
        for tid, meta in zip(ids.tolist(), metas, strict=True):
            self._meta[tid] = meta
            self._by_identity.setdefault(meta[0], set()).add(tid)
        self._refresh_identities({meta[0] for meta in metas})
        self._version += len(metas)

    def _delete(self, template_ids: Sequence[int]) -> None:
        """Take known templates out of their partitions and the id maps."""
        for key, ids in self._by_partition(template_ids).items():
            people = [self._meta[t][0] for t in ids]
            self._partitions[key].remove(np.asarray(ids, dtype=np.int64), people)
        touched = set()
        for tid in template_ids:
            identity_id = self._meta.pop(tid)[0]
            touched.add(identity_id)
            held = self._by_identity[identity_id]
            held.discard(tid)
            if not held:
                del self._by_identity[identity_id]
        self._refresh_identities(touched)
        self._version += len(template_ids)

    def _refresh_identities(self, people: Collection[str]) -> None:
        """Recompute the identity templates of these people from the captures now held."""
        stale: dict[PartitionKey, list[str]] = defaultdict(list)
        for person in people:
            if person in self._mean_id:
                stale[self._mean_key[person]].append(person)
        for key, persons in stale.items():
            ids = np.asarray([self._mean_id[p] for p in persons], dtype=np.int64)
            self._means[key].remove(ids, persons)
            for person in persons:
                del self._mean_owner[self._mean_id.pop(person)]
                del self._mean_key[person]
        fresh: dict[PartitionKey, list[tuple[str, np.ndarray]]] = defaultdict(list)
        for person in people:
            held = self._by_identity.get(person)
            if not held:
                continue
            ids = np.asarray(sorted(held), dtype=np.int64)
            key = self._key_of(int(ids[0]))
            fresh[key].append((person, identity_template(self._partitions[key].vectors(ids))))
        for key, rows in fresh.items():
            mean_ids = np.arange(self._next_mean_id, self._next_mean_id + len(rows), dtype=np.int64)
            self._next_mean_id += len(rows)
            vectors = np.ascontiguousarray(np.stack([v for _, v in rows]), dtype=np.float32)
            persons = [p for p, _ in rows]
            self._means.setdefault(key, Partition(self._dimension)).add(mean_ids, vectors, persons)
            for mean_id, person in zip(mean_ids.tolist(), persons, strict=True):
                self._mean_id[person], self._mean_owner[mean_id] = mean_id, person
                self._mean_key[person] = key

    def _targets(
        self, wanted: tuple[Collection[str], Collection[str]], only: Collection[str] | None
    ) -> list[tuple[Partition, np.ndarray | None]]:
        """The partitions a search must visit, with the template ids to limit each to."""
        roles, statuses = wanted
        keys = [k for k in self._partitions if k[0] in roles and k[1] in statuses]
        if only is None:
            return [(self._partitions[k], None) for k in keys]
        if isinstance(only, str):
            raise ValueError("only_identities must be a collection of ids, not one string")
        chosen = (t for person in set(only) for t in self._by_identity.get(person, ()))
        ids_by_key = self._by_partition(chosen)
        return [
            (self._partitions[k], np.asarray(ids_by_key[k], dtype=np.int64))
            for k in keys
            if ids_by_key.get(k)
        ]

    def _best_per_identity(self, hits: Iterable[tuple[float, int]], k: int) -> list[Candidate]:
        """Collapse hits to each person's best template; top k by score, ties by identity id."""
        best: dict[str, tuple[float, int]] = {}
        for score, tid in hits:
            identity_id = self._meta[tid][0]
            if identity_id not in best or score > best[identity_id][0]:
                best[identity_id] = (score, tid)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:k]
        return [
            Candidate(identity_id, tid, score, *self._key_of(tid))
            for identity_id, (score, tid) in ranked
        ]

    def _differing_vectors(
        self, template_ids: Sequence[int], expected: Mapping[int, np.ndarray]
    ) -> list[int]:
        """Those of these held template ids whose stored vector differs from the expected one."""
        differing = []
        for key, ids in self._by_partition(template_ids).items():
            stored = self._partitions[key].vectors(np.asarray(ids, dtype=np.int64))
            for tid, held in zip(ids, stored, strict=True):
                wanted = np.asarray(expected[tid], dtype=np.float32)
                if wanted.shape != held.shape or not np.allclose(
                    held, wanted, rtol=0, atol=VECTOR_TOLERANCE
                ):
                    differing.append(tid)
        return sorted(differing)

    def _by_partition(self, template_ids: Iterable[int]) -> dict[PartitionKey, list[int]]:
        """Held template ids grouped by the partition they live in."""
        ids_by_key: dict[PartitionKey, list[int]] = defaultdict(list)
        for tid in template_ids:
            ids_by_key[self._key_of(tid)].append(tid)
        return ids_by_key

    def _key_of(self, template_id: int) -> PartitionKey:
        """The (role, status) partition a held template lives in."""
        _, role, status = self._meta[template_id]
        return role, status

"""The national index: exact cosine search up to a size limit, an approximate one above it that
must prove its recall against exact search before it may answer.

Below `exact_limit` templates (default one million) it is an `IndexFlatIP`, like a site's
gallery. Above it an approximate index is built (IVF-Flat by default: see bench/national_search.py
for why not HNSW) and tuned on modelled-face data, not uniform vectors: the search breadth
(`nprobe` or `efSearch`) climbs a ladder until recall@k against the exact index reaches
`min_recall` plus a small margin on one sample of probes, then recall is measured again on a second, disjoint sample.
Only if that held-out figure is at or above `min_recall` does the approximate index serve;
otherwise every search goes to the exact index and the reason is logged.

Probes should be held-out queries like the ones production sends: templates of people *not* in
the index (a new enrolment searched against the nation). `build(..., probes=...)` takes them;
half tune, the other half check. Without them, stored templates are drawn, each searched for
k+1 neighbours with its own id dropped from both lists; that figure is optimistic (a stored
template's nearest neighbours are its own person's other templates, in the same IVF list), so
give real held-out probes where there are any. Measured: bench/national_search.py.

The exact `IndexFlatIP` is always kept: it is the ground truth for the recall check and the
fallback, at the cost of a second copy of the vectors (512 MB per million 128-d templates).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import faiss
import numpy as np

log = logging.getLogger(__name__)

IndexKind = Literal["ivf", "hnsw"]
MIN_RECALL_FLOOR = 0.99  # the capability's promise: never configurable below this
IVF_LADDER = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
HNSW_LADDER = (32, 48, 64, 96, 128, 192, 256, 384, 512)
RECALL_EPSILON = 1e-9  # recall is a mean of fractions: 0.99 may land a rounding error below
TRAIN_POINTS_PER_LIST = 64  # k-means sample per IVF list: FAISS warns below 39


@dataclass(frozen=True)
class NationalIndexConfig:
    """How the national index chooses, builds and checks its approximate search."""

    exact_limit: int = 1_000_000
    kind: IndexKind = "ivf"
    lists_per_sqrt: float = 4.0  # IVF nlist = lists_per_sqrt * sqrt(N)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    ladder: tuple[int, ...] | None = None  # nprobe or efSearch values tried; None: by kind
    min_recall: float = MIN_RECALL_FLOOR
    tune_margin: float = 0.003  # tune above min_recall so the held-out sample's noise clears it
    recall_k: int = 10
    tune_probes: int = 300
    check_probes: int = 500
    seed: int = 20261122

    def __post_init__(self) -> None:
        if self.exact_limit < 1:
            raise ValueError(f"exact_limit must be positive, got {self.exact_limit}")
        if not MIN_RECALL_FLOOR <= self.min_recall <= 1.0:
            raise ValueError(
                f"min_recall must lie in [{MIN_RECALL_FLOOR}, 1], got {self.min_recall}"
            )
        if self.kind not in ("ivf", "hnsw"):
            raise ValueError(f"kind must be 'ivf' or 'hnsw', got {self.kind!r}")
        if self.recall_k < 1 or self.tune_probes < 1 or self.check_probes < 1:
            raise ValueError("recall_k, tune_probes and check_probes must be positive")

    def search_ladder(self) -> tuple[int, ...]:
        """The breadths to try, smallest first."""
        return self.ladder or (IVF_LADDER if self.kind == "ivf" else HNSW_LADDER)


@dataclass
class BuildReport:
    """What `build` did: which index serves, with what breadth, at what measured recall."""

    templates: int
    mode: Literal["exact", "approximate"]
    kind: str = "flat"
    params: dict[str, int] = field(default_factory=dict)
    tuned_recall: float | None = None
    held_out_recall: float | None = None
    exact_seconds: float = 0.0
    approximate_seconds: float = 0.0
    reason: str = ""


class NationalIndex:
    """Templates by int64 id; exact search up to the limit, checked approximate search above."""

    def __init__(self, dimension: int, config: NationalIndexConfig | None = None) -> None:
        if dimension < 1:
            raise ValueError(f"dimension must be positive, got {dimension}")
        self.dimension = dimension
        self.config = config or NationalIndexConfig()
        self._exact = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self._approx: faiss.Index | None = None
        self._tunable: Any = None  # the IVF index (nprobe) or the HNSW graph (efSearch)
        self._serve_approx = False
        self._rng = np.random.default_rng(self.config.seed)
        self.report = BuildReport(0, "exact")

    def __len__(self) -> int:
        return int(self._exact.ntotal)

    @property
    def mode(self) -> Literal["exact", "approximate"]:
        """Which index answers searches now."""
        return "approximate" if self._serve_approx else "exact"

    def build(
        self, ids: np.ndarray, vectors: np.ndarray, probes: np.ndarray | None = None
    ) -> BuildReport:
        """Replace the contents; above the limit build, tune and check the approximate index.

        `probes`: held-out query vectors not in the index (half tune, half check).
        """
        ids, vectors = self._checked(ids, vectors)
        started = time.perf_counter()
        self._exact = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dimension))
        self._exact.add_with_ids(vectors, ids)
        self._approx, self._serve_approx = None, False
        self.report = BuildReport(len(ids), "exact", exact_seconds=time.perf_counter() - started)
        if len(ids) <= self.config.exact_limit:
            self.report.reason = f"{len(ids)} templates <= exact limit {self.config.exact_limit}"
            return self.report
        started = time.perf_counter()
        self._approx = self._build_approximate(ids, vectors)
        self._tune_and_check(None if probes is None else self._checked_probes(probes))
        self.report.approximate_seconds = time.perf_counter() - started
        return self.report

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add templates to both indexes (the approximate one keeps its trained lists/graph)."""
        ids, vectors = self._checked(ids, vectors)
        self._exact.add_with_ids(vectors, ids)
        if self._approx is not None:
            self._approx.add_with_ids(vectors, ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k best templates per query row, best first; -1 ids pad."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dimension or k < 1:
            raise ValueError(f"queries must be (Q, {self.dimension}) and k >= 1")
        index = self._approx if self._serve_approx and self._approx is not None else self._exact
        scores, ids = index.search(queries, k)
        return scores, ids

    def search_exact(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exhaustive search whatever the mode: the ground truth."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, ids = self._exact.search(queries, k)
        return scores, ids

    def recall_check(self, n_probes: int, probes: np.ndarray | None = None) -> float:
        """Recall@k of the approximate index against exact search on probes (1.0 when exact).

        Without `probes`, n_probes stored templates are drawn (a fresh sample each call) and
        their own ids are dropped from both result lists.
        """
        if self._approx is None:
            return 1.0
        queries, own = self._probes(n_probes) if probes is None else (probes, None)
        return self._recall(np.ascontiguousarray(queries, dtype=np.float32), own)

    def _build_approximate(self, ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
        """An untuned IVF-Flat or HNSW index holding every vector under its id."""
        cfg = self.config
        if cfg.kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dimension, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = cfg.hnsw_ef_construction
            index: Any = faiss.IndexIDMap2(hnsw)
            self._tunable = hnsw.hnsw
            self.report.params = {"M": cfg.hnsw_m, "efConstruction": cfg.hnsw_ef_construction}
        else:
            nlist = ivf_lists(len(ids), cfg.lists_per_sqrt)
            quantizer = faiss.IndexFlatIP(self.dimension)
            index = faiss.IndexIVFFlat(quantizer, self.dimension, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = cfg.seed
            index.train(self._training_sample(vectors, nlist))
            self._tunable = index
            self.report.params = {"nlist": nlist}
        index.add_with_ids(vectors, ids)
        self.report.kind = cfg.kind
        return index

    def _training_sample(self, vectors: np.ndarray, nlist: int) -> np.ndarray:
        """A seeded subset large enough for k-means to place nlist centroids well."""
        wanted = min(len(vectors), nlist * TRAIN_POINTS_PER_LIST)
        rows = np.sort(self._rng.choice(len(vectors), size=wanted, replace=False))
        return np.ascontiguousarray(vectors[rows])

    def _tune_and_check(self, probes: np.ndarray | None) -> None:
        """Climb the ladder to min_recall on one sample; serve only if a second one agrees."""
        cfg, tuned = self.config, None
        if probes is None:
            tune_queries, tune_own = self._probes(cfg.tune_probes)
            check: np.ndarray | None = None
        else:
            half = len(probes) // 2
            (tune_queries, tune_own), check = (probes[:half], None), probes[half:]
        for breadth in cfg.search_ladder():
            self._set_breadth(breadth)
            tuned = self._recall(tune_queries, tune_own)
            if tuned >= cfg.min_recall + cfg.tune_margin:
                break
        self.report.tuned_recall = tuned
        held_out = self.recall_check(cfg.check_probes, check)
        self.report.held_out_recall = held_out
        if held_out >= cfg.min_recall - RECALL_EPSILON:
            self._serve_approx, self.report.mode = True, "approximate"
            self.report.reason = f"held-out recall@{cfg.recall_k} {held_out:.4f}"
            return
        self.report.reason = (
            f"approximate {cfg.kind} {self.report.params} reached recall@{cfg.recall_k}"
            f" {tuned} (tuning) / {held_out:.4f} (held out), below {cfg.min_recall}: serving exact"
        )
        log.warning("national index falls back to exact search: %s", self.report.reason)

    def _set_breadth(self, breadth: int) -> None:
        """Set nprobe (IVF, capped at nlist) or efSearch (HNSW) and record it."""
        if self.config.kind == "hnsw":
            self._tunable.efSearch = breadth
            self.report.params["efSearch"] = breadth
        else:
            nprobe = min(breadth, int(self._tunable.nlist))
            self._tunable.nprobe = nprobe
            self.report.params["nprobe"] = nprobe

    def _probes(self, n_probes: int) -> tuple[np.ndarray, np.ndarray]:
        """n stored templates drawn at random, and their ids."""
        n = min(n_probes, len(self))
        rows = self._rng.choice(len(self), size=n, replace=False)
        own = faiss.vector_to_array(self._exact.id_map)[rows]
        return self._exact.reconstruct_batch(own), own

    def _checked_probes(self, probes: np.ndarray) -> np.ndarray:
        """Held-out probes as float32 (P, D), at least two so both halves have one."""
        probes = np.ascontiguousarray(probes, dtype=np.float32)
        if probes.ndim != 2 or probes.shape[1] != self.dimension or len(probes) < 2:
            raise ValueError(f"probes must be (P >= 2, {self.dimension})")
        return probes

    def _recall(self, queries: np.ndarray, own: np.ndarray | None) -> float:
        """Mean share of the exact top-k found by the approximate top-k."""
        assert self._approx is not None
        k = self.config.recall_k
        fetch = k + (1 if own is not None else 0)
        _, truth = self._exact.search(queries, fetch)
        _, found = self._approx.search(queries, fetch)
        hits = 0.0
        for row in range(len(queries)):
            skip = -1 if own is None else int(own[row])
            wanted = [t for t in truth[row] if t not in (skip, -1)][:k]
            got = {f for f in found[row] if f != skip}
            hits += sum(1 for t in wanted if t in got) / max(len(wanted), 1)
        return hits / max(len(queries), 1)

    def _checked(self, ids: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """int64 ids and C-contiguous float32 (N, D) vectors of equal length, or ValueError."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension or len(ids) != len(vectors):
            raise ValueError(f"expected N ids and (N, {self.dimension}) vectors")
        if len(ids) and int(ids.min()) < 0:
            raise ValueError("template ids must be non-negative (FAISS uses -1 for 'none')")
        return ids, vectors


def ivf_lists(total: int, lists_per_sqrt: float) -> int:
    """IVF list count for N vectors: lists_per_sqrt * sqrt(N), at least 1, at most N / 39."""
    wanted = round(lists_per_sqrt * math.sqrt(total))
    return max(1, min(wanted, total // 39))

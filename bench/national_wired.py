"""National search at 1M templates as the registry runs it: `NationalSearch` over a `GalleryIndex`.

bench/national_search.py measures the approximate index (`NationalIndex`) on its own. This
measures what a duplicate search at the registry actually calls (registry/national.py
holds a `NationalSearch`): the exact gallery filled from 1M templates, a snapshot of it read in
chunks, an IVF index trained and checked from that snapshot, and searches answered from the IVF's
shortlist re-scored against the gallery's stored vectors, one best template per person.

Run from the repository root (about 5 minutes on 2 cores at 1M):
    python bench/national_wired.py [--size 1000000] [--samples 200]

People, not templates: the crowd is modelled as in bench/site_service.py (3-5 templates per
person around a centre fitted to the dev people not used as probes), and the real people's first
photo is their gallery template. Recall@10 is over people, against the exact gallery's own
answer for the same query: on the real probes, and on 500 modelled people not in the gallery.
FAISS runs on 1 thread, as the registry leaves it. The machine is shared: load average is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from face_engine import elapsed_ms, load_text, peak_mb, print_table, rss_mb
from national_search import (
    HELD_OUT,
    K,
    RealSet,
    embed_dev,
    faiss_threads,
    new_people,
    split_real,
)
from site_service import CrowdModel, sample_templates, template_counts

from gallery_sync.gallery import Candidate, GalleryEntry, GalleryIndex
from registry.national_index import NationalIndexConfig
from registry.national_search import NationalSearch

Search = Callable[[np.ndarray, int], list[list[Candidate]]]


def national_entries(
    size: int, real: RealSet, model: CrowdModel, rng: np.random.Generator
) -> list[GalleryEntry]:
    """The real people's gallery rows (identity real-<row>) and a modelled crowd, one entry each."""
    counts = template_counts(size - len(real.gallery), rng)
    crowd = sample_templates(model, counts, rng)
    owners = np.repeat(np.arange(len(counts)), counts)
    entries = [
        GalleryEntry(row + 1, f"real-{row}", "inmate", "active", vector)
        for row, vector in enumerate(real.gallery)
    ]
    first = len(entries) + 1
    entries.extend(
        GalleryEntry(first + i, f"p{owner}", "inmate", "active", crowd[i])
        for i, owner in enumerate(owners.tolist())
    )
    return entries


def timed(search: Search, queries: np.ndarray, samples: int) -> list[float]:
    """p50, p95, p99 ms of single-query searches, cycling over the queries."""
    times = []
    for i in range(samples + 3):
        row = queries[i % len(queries) : i % len(queries) + 1]
        start = time.perf_counter()
        search(row, K)
        if i >= 3:
            times.append(elapsed_ms(start))
    return [float(v) for v in np.percentile(times, [50, 95, 99])]


def people_recall(found: Search, truth: Search, queries: np.ndarray) -> float:
    """Mean share of the exact answer's K people that the served answer also names."""
    served, exact = found(queries, K), truth(queries, K)
    shares = [
        len({c.identity_id for c in s} & {c.identity_id for c in e}) / max(len(e), 1)
        for s, e in zip(served, exact, strict=True)
    ]
    return float(np.mean(shares))


def right_first(search: Search, real: RealSet) -> int:
    """Real probes whose own person comes first."""
    answers = search(real.probes, 1)
    return sum(
        bool(a) and a[0].identity_id == f"real-{owner}"
        for a, owner in zip(answers, real.probe_owner.tolist(), strict=True)
    )


def measure(real: RealSet, model: CrowdModel, args: argparse.Namespace) -> None:
    """Fill, snapshot, build, then time and check both paths on the same queries."""
    before = rss_mb()
    start = time.perf_counter()
    entries = national_entries(args.size, real, model, np.random.default_rng(args.seed))
    made_s = time.perf_counter() - start
    national = NationalSearch(
        GalleryIndex(real.gallery.shape[1]),
        NationalIndexConfig(exact_limit=args.size - 1),  # forced onto the approximate path
        background=False,
    )
    start = time.perf_counter()
    with faiss_threads(2):
        national.add(entries)  # fills the exact gallery, then snapshots and builds the IVF
    build_s = time.perf_counter() - start
    del entries
    grown = rss_mb() - before
    assert national.mode == "approximate", "the IVF index was not built or failed its check"
    report = national.ann.report if national.ann else None
    print(f"{args.size:,} entries made in {made_s:.0f} s; gallery + snapshot + IVF build"
          f" {build_s:.0f} s; {report}", flush=True)  # fmt: skip

    exact: Search = national.gallery.search
    wired: Search = national.search
    modelled = new_people(model, HELD_OUT // 2, args.seed + 7)
    rows = []
    with faiss_threads(1):
        for name, search in (("exact GalleryIndex", exact), ("NationalSearch (IVF + re-score)", wired)):  # fmt: skip
            latency = timed(search, real.probes, args.samples)
            recall_real = people_recall(search, exact, real.probes)
            recall_new = people_recall(search, exact, modelled)
            rows.append([name, len(national), *latency, f"{recall_real:.4f}",
                         f"{recall_new:.4f}", f"{right_first(search, real)}/{len(real.probes)}"])  # fmt: skip
    print_table(
        f"Registry duplicate search at {len(national):,} templates as wired (k={K} people, single"
        f" queries, FAISS 1 thread); recall@{K} of people against the exact gallery: real ="
        f" {len(real.probes)} real probes, modelled = {len(modelled)} people not in the gallery",
        [
            "search",
            "templates",
            "p50 ms",
            "p95",
            "p99",
            "recall real",
            "recall modelled",
            "right first",
        ],
        rows,
    )
    answered = national.rows_answered
    print(f"rows answered approximately / exactly (after widening): {answered}")
    print(f"RSS growth for gallery + IVF: {grown:.0f} MB; throughput of the wired search:"
          f" {1000 / rows[1][3]:.0f} single queries/s at p50")  # fmt: skip


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    shared = Path(__file__).resolve().parent.parent.parent / "shared"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=shared / "models", metavar="DIR")
    parser.add_argument("--dev", type=Path, default=shared / "data" / "faces" / "dev")
    parser.add_argument("--size", type=int, default=1_000_000, help="national gallery size")
    parser.add_argument("--samples", type=int, default=200, help="single queries timed per path")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print(f"Gerbang national search as wired, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(f"python {sys.version.split()[0]}, size {args.size:,}")
    print(f"load average (1/5/15 min) at start: {load_text()}\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="gerbang-wired-") as scratch:
        templates = embed_dev(args.models, args.dev, Path(scratch), 1)
    real, model = split_real(templates)
    print(f"{len(real.gallery)} real people, {len(real.probes)} real probes; crowd: {model.source}")
    measure(real, model, args)
    print(f"peak RSS {peak_mb():.0f} MB")
    print(f"load average at end: {load_text()}; run took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

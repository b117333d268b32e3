"""Memory of one registry replica's national index, per template and per million people.

Every replica holds the whole national gallery in memory (registry/national.py): a `GalleryIndex`
of every template (exact search, the truth) and, above `REGISTRY_NATIONAL_EXACT_LIMIT`, an IVF
index built from a snapshot of it (measured in bench/national_wired.py). This fills the exact
gallery with N random unit templates of the national pack's length in one process, and reports
the resident memory it added, per template and scaled to a million people at 3 and 5 templates
each (a site keeps up to `EDGE_ENROLMENT__KEEP_BEST`, default 5, captures per enrolment).

Run from the repository root (about 30 s on 2 cores at the default size):
    python bench/registry_memory.py [--size 300000]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gallery_sync.gallery import GalleryEntry, GalleryIndex
from models.manifest import load_packs

CHUNK = 20_000


def rss_mb() -> float:
    """Resident memory of this process now, from /proc (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def fill(index: GalleryIndex, size: int, rng: np.random.Generator) -> None:
    """N unit templates, 4 per person, inmates, in chunks (the registry adds per batch)."""
    for start in range(0, size, CHUNK):
        count = min(CHUNK, size - start)
        vectors = rng.standard_normal((count, index.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        index.add([
            GalleryEntry(start + i + 1, f"person-{(start + i) // 4}", "inmate", "active", vectors[i])
            for i in range(count)
        ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=300_000, help="templates to hold")
    parser.add_argument("--pack", default="open-yunet-dlib", help="the national pack")
    args = parser.parse_args()
    dimension = load_packs()[args.pack].embedding_dim
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = GalleryIndex(dimension)
    fill(index, args.size, np.random.default_rng(20261207))
    gc.collect()
    added = rss_mb() - before
    per_template_kb = added * 1024 / args.size
    print(f"pack {args.pack}, {dimension}-d float32; {args.size} templates in {time.perf_counter() - started:.1f} s;"
          f" load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| what | figure |\n|---|---|")
    print(f"| resident memory added by the exact gallery | {added:.0f} MB |")
    print(f"| per template (vector {dimension * 4} B + id, metadata) | {per_template_kb:.2f} KB |")
    for per_person in (3, 5):
        gb = per_template_kb * per_person * 1_000_000 / 1024 / 1024
        print(f"| per million people at {per_person} templates each | {gb:.2f} GB |")


if __name__ == "__main__":
    main()

"""Embed a folder-per-identity set once, with the mirrored chip too, for the open-set measurements.

    EDGE_MODEL_DIR=... python bench/openset_embed.py /work/shared/data/faces/openset \
        --out var/openset-open-yunet-dlib.npz

Writes the `gerbang embed` archive format (paths relative to the folder, `embeddings` with NaN
rows where no face was found, `quality`, `det_score`, `error`, `pack_id`) plus `embeddings_flip`:
the template of the horizontally mirrored chip of the same detection. Mirroring the aligned chip
costs one more recogniser pass per face and no second detection, which is the cheap form of flip
test-time augmentation. `gerbang eval --open-set --embeddings F.npz` reads this archive, and
bench/openset_measure.py and bench/gate_day.py start from it. Never write it into the repository:
it is derived from evaluation photos (`*.npz` and var/ are git-ignored).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from edge import wiring
from edge.settings import Settings
from kernel.errors import GerbangError
from models.batch import CHUNK, list_images
from models.engine import FaceEngine, StageTimer
from models.imaging import read_image_file
from models.loader import EngineSpec, RuntimeChoice
from models.obtain import ensure_converted
from models.runtime import physical_cores

Row = tuple[np.ndarray | None, np.ndarray | None, float, float, str]

_engine: FaceEngine | None = None


def _init(spec: EngineSpec) -> None:
    global _engine  # noqa: PLW0603 - one engine per worker process
    _engine = spec.build()


def _chunk(paths: Sequence[str]) -> list[Row]:
    assert _engine is not None
    engine = _engine
    rows: list[Row] = []
    chips, where = [], []
    for path in paths:
        try:
            image = read_image_file(path, engine.options.limits)
            face, _count, quality, chip = engine._prepare(image, StageTimer())
        except GerbangError as exc:
            rows.append((None, None, 0.0, 0.0, exc.code))
            continue
        where.append(len(rows))
        rows.append((None, None, quality.score, face.score, ""))
        chips += [chip, np.ascontiguousarray(chip[:, ::-1])]
    templates = engine.embedder.embed(chips)
    for k, row in enumerate(where):
        _, _, q, d, e = rows[row]
        rows[row] = (templates[2 * k], templates[2 * k + 1], q, d, e)
    return rows


def first_per_person(paths: list[Path], root: Path, limit: int) -> list[Path]:
    """Each identity folder's first `limit` photos, in the listing's order."""
    seen: dict[str, int] = {}
    kept = []
    for path in paths:
        person = path.relative_to(root).parts[0]
        seen[person] = seen.get(person, 0) + 1
        if seen[person] <= limit:
            kept.append(path)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--pack")
    parser.add_argument("--workers", type=int)
    parser.add_argument(
        "--per-person",
        type=int,
        help="only each identity's first N photos (a smaller archive for smoke tests)",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    spec = wiring.engine_spec(settings, args.pack)
    ensure_converted(spec.store, spec.pack)
    root = Path(args.dir)
    paths = list_images(root)
    if args.per_person:
        paths = first_per_person(paths, root, args.per_person)
    chunks = [[str(p) for p in paths[i : i + CHUNK]] for i in range(0, len(paths), CHUNK)]
    workers = args.workers or physical_cores()
    single = replace(spec, runtime=RuntimeChoice(spec.runtime.providers, threads=1))
    rows: list[Row] = []
    with (
        ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init,
            initargs=(single,),
        ) as pool,
        tqdm(total=len(paths), unit="img") as bar,
    ):
        for part in pool.map(_chunk, chunks):
            rows += part
            bar.update(len(part))
    dim = spec.pack.embedding_dim
    emb = np.full((len(rows), dim), np.nan, dtype=np.float32)
    flip = np.full((len(rows), dim), np.nan, dtype=np.float32)
    for i, (t, f, *_rest) in enumerate(rows):
        if t is not None and f is not None:
            emb[i], flip[i] = t, f
    np.savez_compressed(
        args.out,
        paths=np.array([str(p.relative_to(root)) for p in paths]),
        embeddings=emb,
        embeddings_flip=flip,
        quality=np.array([r[2] for r in rows], dtype=np.float32),
        det_score=np.array([r[3] for r in rows], dtype=np.float32),
        error=np.array([r[4] for r in rows]),
        pack_id=np.array(spec.pack.id),
    )
    print(f"wrote {args.out}: {len(rows)} images, {int(np.isnan(emb[:, 0]).sum())} without a face")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Embedding many images with every core: a photo archive migration, or an accuracy evaluation.

Work is split across processes, one per physical core, each running its sessions on a single
thread: on small CPUs, parallel images beat parallel operators inside one image. Workers are
spawned, not forked (a fork inherits OpenCV's and onnxruntime's thread pools mid-flight and can
deadlock), each builds its own engine once, and a worker that dies fails the job loudly instead
of leaving it waiting forever.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from kernel.errors import GerbangError
from models.engine import FaceEngine
from models.imaging import read_image_file
from models.loader import EngineSpec, RuntimeChoice
from models.runtime import physical_cores

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".pgm"}
CHUNK = 8  # images per task: enough to batch the recogniser, small enough to balance workers


@dataclass(frozen=True)
class EmbeddedImage:
    """The outcome for one image: a template, or the error code that stopped it."""

    path: str
    template: np.ndarray | None
    quality: float
    det_score: float
    error: str | None


def list_images(root: Path) -> list[Path]:
    """Every image below a folder, sorted for a stable order."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _embed_chunk(engine: FaceEngine, paths: Sequence[str]) -> list[EmbeddedImage]:
    images, outcomes = [], {}
    for path in paths:
        try:
            images.append((path, read_image_file(path, engine.options.limits)))
        except GerbangError as exc:
            outcomes[path] = EmbeddedImage(path, None, 0.0, 0.0, exc.code)
    results = engine.analyse_many([image for _, image in images])
    for (path, _), result in zip(images, results, strict=True):
        if isinstance(result, Exception):
            code = result.code if isinstance(result, GerbangError) else type(result).__name__
            outcomes[path] = EmbeddedImage(path, None, 0.0, 0.0, code)
        else:
            outcomes[path] = EmbeddedImage(
                path, result.template, result.quality.score, result.face.score, None
            )
    return [outcomes[p] for p in paths]


_worker_engine: FaceEngine | None = None


def _init_worker(spec: EngineSpec) -> None:
    global _worker_engine  # noqa: PLW0603 - one engine per worker process, built once
    _worker_engine = spec.build()


def _worker_chunk(paths: Sequence[str]) -> list[EmbeddedImage]:
    assert _worker_engine is not None
    return _embed_chunk(_worker_engine, paths)


def embed_files(
    spec: EngineSpec, paths: Sequence[str], workers: int | None = None, progress: bool = True
) -> list[EmbeddedImage]:
    """Embed every path (in order) using `workers` processes (default: physical cores)."""
    workers = workers or physical_cores()
    chunks = [list(paths[i : i + CHUNK]) for i in range(0, len(paths), CHUNK)]
    bar = tqdm(total=len(paths), unit="img", disable=not progress)
    results: list[EmbeddedImage] = []
    for chunk_result in _run_chunks(spec, chunks, workers):
        results.extend(chunk_result)
        bar.update(len(chunk_result))
    bar.close()
    return results


def _run_chunks(
    spec: EngineSpec, chunks: list[list[str]], workers: int
) -> Iterator[list[EmbeddedImage]]:
    if workers <= 1:
        engine = spec.build()
        yield from (_embed_chunk(engine, chunk) for chunk in chunks)
        return
    single_threaded = replace(spec, runtime=RuntimeChoice(spec.runtime.providers, threads=1))
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(single_threaded,),
    ) as pool:
        yield from pool.map(_worker_chunk, chunks)


def save_npz(
    path: Path, results: Sequence[EmbeddedImage], names: Sequence[str], pack_id: str, dim: int
) -> None:
    """Write the archive format: paths, embeddings (NaN rows = no face), quality, det_score, pack."""
    embeddings = np.full((len(results), dim), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        if result.template is not None:
            embeddings[row] = result.template
    np.savez_compressed(
        path,
        paths=np.array(names),
        embeddings=embeddings,
        quality=np.array([r.quality for r in results], dtype=np.float32),
        det_score=np.array([r.det_score for r in results], dtype=np.float32),
        error=np.array([r.error or "" for r in results]),
        pack_id=np.array(pack_id),
    )

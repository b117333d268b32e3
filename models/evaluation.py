"""Accuracy on a folder-per-identity photo set: pair scores, error rates and failure to acquire.

`gerbang eval` and `gerbang calibrate` both start here. A folder name is an identity; identity
names of the form `<source>-<label>` can also be reported per source, because mixed data sets
(studio scans next to web photos) hide very different behaviour behind one average.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import error_rates
from models.batch import EmbeddedImage, embed_files, list_images
from models.loader import EngineSpec


@dataclass(frozen=True)
class LabelledSet:
    """Embeddings of a labelled photo set (NaN rows where no face was acquired)."""

    paths: list[str]
    labels: list[str]
    embeddings: np.ndarray
    errors: Counter[str]


@dataclass(frozen=True)
class EvalResult:
    """Error rates of one pack on one set."""

    name: str
    n_images: int
    n_identities: int
    failure_to_acquire: int
    n_genuine: int
    n_impostor: int
    eer: float
    fnmr: dict[float, float]  # target FMR → FNMR at the threshold meeting it
    thresholds: dict[float, float]
    det: tuple[np.ndarray, np.ndarray]


def embed_labelled_set(spec: EngineSpec, root: Path, workers: int | None = None) -> LabelledSet:
    """Embed every image under root, labelled by its top-level folder."""
    paths = list_images(root)
    labels = [p.relative_to(root).parts[0] for p in paths]
    results = embed_files(spec, [str(p) for p in paths], workers)
    embeddings = np.full((len(paths), spec.pack.embedding_dim), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        if result.template is not None:
            embeddings[row] = result.template
    return LabelledSet([str(p) for p in paths], labels, embeddings, _error_counts(results))


def _error_counts(results: list[EmbeddedImage]) -> Counter[str]:
    return Counter(r.error for r in results if r.error)


def evaluate(name: str, data: LabelledSet, targets: tuple[float, ...] = (1e-2, 1e-3)) -> EvalResult:
    """EER, FNMR at each target FMR and the DET curve for one set of embeddings."""
    genuine, impostor = error_rates.pair_scores(data.embeddings, data.labels)
    thresholds = {t: error_rates.threshold_at_fmr(impostor, t) for t in targets}
    fmr, fnmr, _ = error_rates.det_curve(genuine, impostor)
    return EvalResult(
        name=name,
        n_images=len(data.labels),
        n_identities=len(set(data.labels)),
        failure_to_acquire=int(np.isnan(data.embeddings).any(axis=1).sum()),
        n_genuine=len(genuine),
        n_impostor=len(impostor),
        eer=error_rates.eer(genuine, impostor)[0],
        fnmr={t: error_rates.fnmr_at(thresholds[t], genuine) for t in targets},
        thresholds=thresholds,
        det=(fmr, fnmr),
    )


def subset(data: LabelledSet, keep: list[bool]) -> LabelledSet:
    """The rows of a set where keep is true."""
    rows = [i for i, k in enumerate(keep) if k]
    return LabelledSet(
        [data.paths[i] for i in rows],
        [data.labels[i] for i in rows],
        data.embeddings[rows],
        Counter(),
    )


def by_source(data: LabelledSet) -> dict[str, LabelledSet]:
    """Split by the `<source>-` prefix of identity names (only when every name has one)."""
    sources = [label.split("-", 1)[0] for label in data.labels]
    if any("-" not in label for label in data.labels):
        return {}
    parts = {s: subset(data, [x == s for x in sources]) for s in sorted(set(sources))}
    return {s: part for s, part in parts.items() if _has_both_pair_kinds(part.labels)}


def _has_both_pair_kinds(labels: list[str]) -> bool:
    """A set of single-image identities has no genuine pairs: no error rate can be measured."""
    counts = Counter(labels)
    return len(counts) > 1 and max(counts.values()) > 1


def format_results(results: list[EvalResult], targets: tuple[float, ...] = (1e-2, 1e-3)) -> str:
    """A terminal table: one row per pack or source."""
    head = f"{'set':<28}{'images':>7}{'ids':>5}{'FTA':>5}{'genuine':>9}{'impostor':>10}{'EER':>8}"
    head += "".join(f"{'FNMR@' + format(t, '.0e'):>13}" for t in targets)
    rows = [head, "-" * len(head)]
    for r in results:
        line = f"{r.name:<28}{r.n_images:>7}{r.n_identities:>5}{r.failure_to_acquire:>5}"
        line += f"{r.n_genuine:>9}{r.n_impostor:>10}{r.eer:>8.2%}"
        for t in targets:
            flag = "" if error_rates.fmr_supported(r.n_impostor, t) else "*"
            line += f"{format(r.fnmr[t], '.2%') + flag:>13}"
        rows.append(line)
    rows.append(
        "* FMR target not supported by the impostor pair count (rule of 30): read as indicative"
    )
    return "\n".join(rows)

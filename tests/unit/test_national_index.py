"""The national index against NumPy brute force on seeded clustered data, and its recall guard."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from registry.national_index import NationalIndex, NationalIndexConfig, ivf_lists

DIM = 32
K = 10


def clustered(n: int, seed: int = 7) -> np.ndarray:
    """Unit vectors in tight groups of four around shared centres: face-like, not uniform."""
    rng = np.random.default_rng(seed)
    centres = 1.5 + rng.standard_normal((n // 4 + 1, DIM))
    vectors = np.repeat(centres, 4, axis=0)[:n] + 0.3 * rng.standard_normal((n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def brute_force(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k highest inner products per query."""
    scores = queries @ vectors.T
    return ids[np.argsort(-scores, axis=1, kind="stable")[:, :k]]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered(4000)
    ids = np.arange(1000, 5000, dtype=np.int64)
    return ids, vectors, clustered(50, seed=99)


def test_small_gallery_is_searched_exactly_like_numpy(data) -> None:
    ids, vectors, queries = data
    index = NationalIndex(DIM)
    report = index.build(ids, vectors)
    assert report.mode == "exact" and index.mode == "exact"
    _, found = index.search(queries, K)
    np.testing.assert_array_equal(found, brute_force(vectors, ids, queries, K))
    assert index.recall_check(100) == 1.0


def test_above_the_limit_an_approximate_index_serves_with_recall_at_least_099(data) -> None:
    ids, vectors, queries = data
    index = NationalIndex(DIM, NationalIndexConfig(exact_limit=1000))
    report = index.build(ids, vectors)
    assert report.mode == "approximate" and report.kind == "ivf"
    assert report.params["nlist"] == ivf_lists(4000, 4.0)
    assert report.held_out_recall is not None and report.held_out_recall >= 0.99
    assert index.recall_check(200) >= 0.98  # a fresh sample: close to the checked figure
    _, found = index.search(queries, K)
    truth = brute_force(vectors, ids, queries, K)
    overlap = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])
    assert overlap >= 0.97


def test_hnsw_is_tuned_to_recall_at_least_099(data) -> None:
    ids, vectors, _ = data
    config = NationalIndexConfig(exact_limit=1000, kind="hnsw", hnsw_m=16)
    report = NationalIndex(DIM, config).build(ids, vectors)
    assert report.mode == "approximate"
    assert "efSearch" in report.params and report.held_out_recall is not None
    assert report.held_out_recall >= 0.99


def test_index_below_099_recall_falls_back_to_exact_and_says_why(data, caplog) -> None:
    ids, vectors, queries = data
    config = NationalIndexConfig(exact_limit=1000, ladder=(1,))  # one list of ~250: too narrow
    index = NationalIndex(DIM, config)
    with caplog.at_level(logging.WARNING, logger="registry.national_index"):
        report = index.build(ids, vectors)
    assert report.mode == "exact" and index.mode == "exact"
    assert index.recall_check(200) < 0.99  # the approximate index really is worse
    assert "falls back to exact" in caplog.text and "below 0.99" in caplog.text
    _, found = index.search(queries, K)
    np.testing.assert_array_equal(found, brute_force(vectors, ids, queries, K))


def test_added_templates_are_found_in_either_mode(data) -> None:
    ids, vectors, _ = data
    extra = clustered(8, seed=3)
    for limit in (1_000_000, 1000):
        index = NationalIndex(DIM, NationalIndexConfig(exact_limit=limit))
        index.build(ids, vectors)
        index.add(np.arange(9000, 9008), extra)
        _, found = index.search(extra, 1)
        assert found[:, 0].tolist() == list(range(9000, 9008))


def test_recall_guard_cannot_be_configured_below_099() -> None:
    with pytest.raises(ValueError, match="min_recall"):
        NationalIndexConfig(min_recall=0.95)


def test_ids_and_vectors_must_agree() -> None:
    with pytest.raises(ValueError):
        NationalIndex(DIM).build(np.arange(3), clustered(4))


def test_held_out_probes_not_in_the_index_tune_and_check_it(data) -> None:
    ids, vectors, _ = data
    probes = clustered(200, seed=42)  # other people: none of them is in the index
    index = NationalIndex(DIM, NationalIndexConfig(exact_limit=1000))
    report = index.build(ids, vectors, probes=probes)
    assert report.mode == "approximate"
    assert report.held_out_recall == pytest.approx(index.recall_check(0, probes[100:]))
    assert report.held_out_recall >= 0.99

"""Extractors by name for the evaluation commands, and the template cache between runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.fingerprint import extractors, nbis
from models.fingerprint.mcc import MinutiaeWithCylinders
from models.fingerprint.minutiae import ENDING, MinutiaeTemplate


class CountingExtractor:
    """A fake extractor: seeded minutiae from the image's mean, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, image: np.ndarray, ppi: int) -> MinutiaeTemplate:
        self.calls += 1
        if image.mean() == 0:
            raise nbis.FingerprintImageInvalid(reason="no_ridges")
        rng = np.random.default_rng(int(image.mean()))
        rows = np.column_stack([rng.uniform(20, 180, (30, 2)), rng.uniform(0, 6, 30),
                                np.full(30, 80.0), np.full(30, ENDING)])  # fmt: skip
        return MinutiaeTemplate(image.shape[1], image.shape[0], ppi, rows, "fake 1.0")


def test_the_cache_extracts_each_image_once_and_gives_the_same_rows(tmp_path: Path) -> None:
    fake = CountingExtractor()
    cached = extractors.CachedExtractor(fake, "fake", tmp_path)
    image = np.full((200, 200), 7, np.uint8)
    first, second = cached(image, 500), cached(image, 500)
    assert fake.calls == 1
    np.testing.assert_array_equal(first.minutiae, second.minutiae)
    assert (second.width, second.height, second.resolution_ppi) == (200, 200, 500)
    cached(image, 1000)  # another resolution is another template
    cached(np.full((200, 200), 9, np.uint8), 500)  # another image too
    assert fake.calls == 3


def test_a_failure_is_not_cached(tmp_path: Path) -> None:
    fake = CountingExtractor()
    cached = extractors.CachedExtractor(fake, "fake", tmp_path)
    for _ in range(2):
        with pytest.raises(nbis.FingerprintImageInvalid):
            cached(np.zeros((200, 200), np.uint8), 500)
    assert fake.calls == 2


def test_mcc_gets_templates_with_cylinders_and_bozorth3_plain_ones() -> None:
    image = np.full((200, 200), 7, np.uint8)
    assert isinstance(
        extractors.for_matcher(CountingExtractor(), "mcc")(image, 500), MinutiaeWithCylinders
    )
    plain = extractors.for_matcher(CountingExtractor(), "nbis")(image, 500)
    assert not isinstance(plain, MinutiaeWithCylinders)


def test_an_unknown_extractor_or_leader_without_a_store_is_refused() -> None:
    assert extractors.named_extractor("nbis") is nbis.extract
    with pytest.raises(ValueError, match="extractor must be one of"):
        extractors.named_extractor("mindtct2")
    with pytest.raises(ValueError, match="model store"):
        extractors.named_extractor("leader")

"""MINDTCT templates sent through an ISO/IEC 19794-2:2005 record score as before under BOZORTH3.

Real FVC2002 DB1_B impressions (500 ppi), the real NBIS library. The scores are expected to be
identical, not merely close: coordinates are whole pixels in both forms, and MINDTCT's angle
step (11.25 degrees) is exactly 8 ISO steps (1.40625 degrees), so every angle survives.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.fingerprint import iso19794
from models.fingerprint.minutiae import MinutiaeTemplate

pytestmark = pytest.mark.model
nbis = pytest.importorskip("models.fingerprint.nbis", reason="the NBIS module is not there yet")

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GERBANG_SHARED_DIR", REPO.parent / "shared"))
FVC_DB1_B = SHARED / "data" / "fingerprints" / "fvc2002-db1_b"
FINGERS = range(101, 111)
Templates = dict[tuple[int, int], MinutiaeTemplate]  # (finger, impression) -> template


def _require(path: Path, what: str) -> Path:
    """Skip locally, fail under CI=true, when the shared data or the NBIS build is missing."""
    if not path.exists():
        message = f"{what} not found at {path}"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def templates() -> Templates:
    """MINDTCT templates of impressions 1 and 2 of every finger in DB1_B."""
    folder = _require(FVC_DB1_B, "FVC2002 DB1_B")
    _require(nbis.library_path(), "NBIS library (bash scripts/build_nbis.sh)")
    found = {}
    for finger in FINGERS:
        for impression in (1, 2):
            with Image.open(folder / f"{finger}_{impression}.tif") as image:
                grey = np.asarray(image.convert("L"), dtype=np.uint8)
            found[finger, impression] = nbis.extract(grey, 500)
    return found


def _through_iso(template: MinutiaeTemplate, finger_position: int = 0) -> MinutiaeTemplate:
    [(position, decoded)] = iso19794.decode(iso19794.encode([(finger_position, template)]))
    assert position == finger_position
    return decoded


def test_genuine_pairs_score_the_same_after_an_iso_round_trip(templates: Templates) -> None:
    for finger in FINGERS:
        probe, gallery = templates[finger, 1], templates[finger, 2]
        native = nbis.bozorth3(probe, gallery)

        assert nbis.bozorth3(_through_iso(probe), _through_iso(gallery)) == native, finger
        assert nbis.bozorth3(probe, _through_iso(gallery)) == native, finger  # mixed sources


def test_impostor_pairs_score_the_same_after_an_iso_round_trip(templates: Templates) -> None:
    for finger in FINGERS:
        other = FINGERS[(finger - FINGERS.start + 1) % len(FINGERS)]
        probe, gallery = templates[finger, 1], templates[other, 1]

        assert nbis.bozorth3(_through_iso(probe), _through_iso(gallery)) == nbis.bozorth3(
            probe, gallery
        )


def test_a_ten_finger_record_scores_each_finger_as_its_native_template(
    templates: Templates,
) -> None:
    record = iso19794.encode([(finger - 100, templates[finger, 1]) for finger in FINGERS])

    for position, decoded in iso19794.decode(record):
        finger = position + 100
        native = nbis.bozorth3(templates[finger, 1], templates[finger, 2])
        assert nbis.bozorth3(decoded, templates[finger, 2]) == native

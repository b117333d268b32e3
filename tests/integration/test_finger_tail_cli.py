"""`gerbang finger tail` on a small real FVC folder writes a tail that loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.main import main
from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.tail import FingerTail


def test_finger_tail_fits_a_small_folder_and_writes_a_loadable_file(
    fingerprints: Path, nbis_library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = tmp_path / "small"
    small.mkdir()
    for image in sorted((fingerprints / "fvc2002-db1_b").glob("10[1-4]_*.tif")):
        (small / image.name).symlink_to(image)  # 4 fingers x 8 impressions, read in place
    out = tmp_path / "tail.json"
    assert main(["finger", "tail", str(small), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    fitted = FingerTail.load(out)
    assert fitted.fingers == 4 and fitted.tail.n == 32 * 24  # each against the 3 other fingers
    assert len(fitted.genuine) == 32 * 7
    assert fitted.threshold_at_fmr(fmr_for_fpir(0.01, 1_000)) > fitted.tail.top[0]

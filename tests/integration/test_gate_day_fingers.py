"""bench/gate_day_fingers.py --quick end to end on the open-set embeddings and the real FVC fingers."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bench import gate_day_fingers, openset_embed
from tests.conftest import REPO, SHARED, _require

pytestmark = pytest.mark.slow


@pytest.fixture
def archive(
    model_dir: Path, fingerprints: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """The cached open-set embeddings (bench/openset_embed.py) where the README makes them, else
    made here from each person's first 5 open-set photos (about half of them: a minute and a
    half on 2 cores instead of three), as a fresh clone has none."""
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("GERBANG_FINGERPRINTS", str(fingerprints))
    cached = Path(
        os.environ.get("GERBANG_OPENSET_ARCHIVE", REPO / "var" / "openset-open-yunet-dlib.npz")
    )
    if cached.exists():
        return cached
    photos = _require(SHARED / "data" / "faces" / "openset", "open-set face photos")
    made = tmp_path / "openset.npz"
    assert openset_embed.main([str(photos), "--out", str(made), "--per-person", "5"]) == 0
    return made


def test_quick_day_reports_each_population_with_and_without_fingers(
    archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate_day_fingers.main([str(archive), "--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    header, body = rows[0], rows[1:]
    assert header.count("|") == 8
    ways = [row.split("|")[2].strip() for row in body]
    assert (
        ways
        == [
            "face alone",
            "face + finger, each at its threshold (rule both)",
            "face + finger fused (rule together)",
            "fused, a second press after a finger denial",
        ]
        * 2
    )
    assert body[0].startswith("| Western: ") and body[4].startswith("| East-Asian: ")
    assert "20 real fingers as 10 pairs" in out and "200 exits per population" in out
    for day in (body[:4], body[4:]):
        escapes = [re.search(r"(\d+)/(\d+) = ", row).groups() for row in day]  # type: ignore[union-attr]
        assert (
            len({total for _, total in escapes}) == 1 and int(escapes[0][1]) > 0
        )  # the same escapes
        denied = [int(row.split("|")[5].split("(")[0]) for row in day]
        # a second press is only ever made after a denial: never more denials, never fewer catches
        assert denied[3] <= denied[2] and int(escapes[3][0]) >= int(escapes[2][0])
        for row in day:
            alarms = int(row.split("|")[3].split("(")[0])
            assert 0 <= alarms <= 1000

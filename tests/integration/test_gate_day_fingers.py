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
    made here from the open-set photos (about a minute on 2 cores), as a fresh clone has none."""
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("GERBANG_FINGERPRINTS", str(fingerprints))
    cached = Path(
        os.environ.get("GERBANG_OPENSET_ARCHIVE", REPO / "var" / "openset-open-yunet-dlib.npz")
    )
    if cached.exists():
        return cached
    photos = _require(SHARED / "data" / "faces" / "openset", "open-set face photos")
    made = tmp_path / "openset.npz"
    assert openset_embed.main([str(photos), "--out", str(made)]) == 0
    return made


def test_quick_day_reports_each_population_with_and_without_fingers(
    archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate_day_fingers.main([str(archive), "--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    header, body = rows[0], rows[1:]
    assert header.count("|") == 8
    assert [row.split("|")[2].strip() for row in body] == ["face alone", "face + finger"] * 2
    assert body[0].startswith("| Western: ") and body[2].startswith("| East-Asian: ")
    assert "20 real fingers as 10 pairs" in out and "200 exits per population" in out
    for first, second in ((body[0], body[1]), (body[2], body[3])):
        escapes = [re.search(r"\d+/(\d+) = ", row).group(1) for row in (first, second)]  # type: ignore[union-attr]
        assert escapes[0] == escapes[1] and int(escapes[0]) > 0  # the same escapes, each way
        for row in (first, second):
            alarms = int(row.split("|")[3].split("(")[0])
            assert 0 <= alarms <= 1000

"""`gerbang finger readers` and `gerbang finger read` on the site machine, against libfprint's real
virtual_image driver fed a real FVC image: the reader setup an administrator checks first."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from console.main import main as gerbang
from tests.virtual_reader import VirtualSensor, fprint_stack_missing, fvc_pixels, virtual_sensor

pytestmark = pytest.mark.model


@pytest.fixture
def sensor(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[VirtualSensor]:
    missing = fprint_stack_missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(missing)
        pytest.skip(missing)
    readers = [
        {"name": "desk-1", "driver": "virtual_image"},
        {"name": "gate-side", "driver": "folder", "folder": "/nonexistent-reader-folder"},
    ]
    monkeypatch.setenv("EDGE_READERS", json.dumps(readers))
    with virtual_sensor(tmp_path_factory.mktemp("fp")) as virtual:
        yield virtual


def test_readers_lists_each_reader_and_fails_while_one_is_absent(
    sensor: VirtualSensor, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gerbang(["finger", "readers"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["desk-1", "virtual_image"] and "ready" in lines[0]
    assert "absent fingerprint_reader_missing" in lines[1]


def test_read_waits_for_a_finger_judges_it_and_writes_it(
    sensor: VirtualSensor, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sensor.press("fvc2002-db1_b/101_1.tif")
    out = tmp_path / "finger.png"
    args = ["finger", "read", "desk-1", "--position", "2", "--timeout", "5", "--out", str(out)]
    assert gerbang(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("right index finger: 388x374 at 500 ppi (virtual_image), usable")
    with Image.open(out) as image:
        np.testing.assert_array_equal(np.asarray(image), fvc_pixels("fvc2002-db1_b/101_1.tif"))


def test_read_says_when_the_reader_is_pulled_out(
    sensor: VirtualSensor, capsys: pytest.CaptureFixture[str]
) -> None:
    sensor.unplug()
    assert gerbang(["finger", "read", "desk-1", "--timeout", "5"]) == 1
    assert capsys.readouterr().out.startswith("fingerprint_reader_missing: The fingerprint reader")

"""The readers where people stand, through HTTP, on libfprint's real virtual_image driver fed real
FVC images: a capture answers the exact image with the enrolment's verdict, an unplug mid-capture
is a coded 503 (and the reader comes back), a second capture on a busy reader is a 409, a kiosk
reaches only its own gate's readers, and a kiosk's key alone cannot move an inmate."""

from __future__ import annotations

import base64
import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edge.settings import ReaderSettings
from tests.integration.conftest import SiteClient, error_code, make_site_client
from tests.virtual_reader import VirtualSensor, fprint_stack_missing, fvc_pixels, virtual_sensor

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def sensor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualSensor]:
    missing = fprint_stack_missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(missing)
        pytest.skip(missing)
    with virtual_sensor(tmp_path_factory.mktemp("fp")) as virtual:
        yield virtual


@pytest.fixture(scope="module")
def sc(sensor: VirtualSensor, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    """A site without face models (readers need none: quicker to start), two readers named."""
    readers = [
        ReaderSettings(name="gate-main", driver="virtual_image", gate="main"),
        ReaderSettings(name="desk-1", driver="folder", folder=Path("/nonexistent-reader-folder")),
    ]
    data = tmp_path_factory.mktemp("readers")
    yield from make_site_client(data / "no-face-models", data, readers=readers)


def capture(sc: SiteClient, role: str = "enrolment_officer", **body: Any) -> Any:
    return sc.client.post(
        "/v1/readers/gate-main/capture",
        json={"timeout_s": 5, **body},
        headers=sc.as_role(role),
    )


def test_readers_are_listed_with_whether_they_are_there(sc: SiteClient) -> None:
    listed = sc.client.get("/v1/readers", headers=sc.as_role("enrolment_officer")).json()
    states = {r["name"]: (r["state"], r["problem"]) for r in listed}
    assert states == {
        "gate-main": ("ready", None),
        "desk-1": ("absent", "fingerprint_reader_missing"),
    }
    kiosk = sc.client.get("/v1/readers", headers=sc.as_role("device")).json()
    assert [r["name"] for r in kiosk] == ["gate-main"]  # its own gate's readers only


def test_a_capture_answers_the_image_the_sensor_took_with_the_enrolment_verdict(
    sc: SiteClient, sensor: VirtualSensor
) -> None:
    sensor.press("fvc2002-db1_b/101_1.tif")
    response = capture(sc, position=2)
    assert response.status_code == 200, response.text
    body = response.json()
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["image_png"]))))
    np.testing.assert_array_equal(pixels, fvc_pixels("fvc2002-db1_b/101_1.tif"))
    assert body["finger"] == {"id": "Telunjuk kanan", "en": "right index finger"}
    assert body["usable"] and body["quality"]["minutiae"] >= 15
    assert (body["resolution_ppi"], body["resolution_assumed"]) == (500, True)


def test_a_dry_print_is_told_so(sc: SiteClient, sensor: VirtualSensor) -> None:
    sensor.press("fvc2002-db1_b/109_6.tif")  # faint, broken ridges
    body = capture(sc, position=7).json()
    assert "too_dry" in [r["code"] for r in body["reasons"]]
    assert body["finger"]["en"] == "left index finger"


def test_a_reader_unplugged_mid_capture_is_a_coded_503_and_comes_back(
    sc: SiteClient, sensor: VirtualSensor
) -> None:
    sensor.unplug()
    response = capture(sc)
    assert (response.status_code, error_code(response)) == (503, "fingerprint_reader_missing")
    error = response.json()["error"]
    assert error["details"]["reason"] == "removed"
    assert "terlepas" in error["message"]["id"]

    sensor.press("fvc2002-db1_b/102_1.tif")  # plugged back in: the next capture finds it
    assert capture(sc).status_code == 200


def test_no_finger_is_a_timeout_and_a_busy_reader_refuses_a_second_capture(
    sc: SiteClient,
) -> None:
    answers: list[Any] = []
    # The second capture waits 2 s for the reader (STATE_CHECK_GRACE_S) before refusing: the first
    # must still hold it then, with room for a loaded machine; it times out after 10 s.
    waiting = threading.Thread(target=lambda: answers.append(capture(sc, timeout_s=10)))
    waiting.start()
    while sc.site.readers.state("gate-main")[0] != "busy" and waiting.is_alive():
        time.sleep(0.02)  # until the first capture holds the reader
    busy = capture(sc, timeout_s=1)
    waiting.join()
    assert (busy.status_code, error_code(busy)) == (409, "reader_busy")
    assert (answers[0].status_code, error_code(answers[0])) == (408, "fingerprint_capture_timeout")


def test_a_kiosk_reaches_only_its_own_gates_readers(sc: SiteClient, sensor: VirtualSensor) -> None:
    sensor.press("fvc2002-db1_b/103_1.tif")
    assert capture(sc, role="device").status_code == 200
    other = sc.client.post(
        "/v1/readers/desk-1/capture", json={"timeout_s": 1}, headers=sc.as_role("device")
    )
    assert (other.status_code, error_code(other)) == (403, "forbidden")
    unknown = sc.client.post(
        "/v1/readers/nope/capture", json={"timeout_s": 1}, headers=sc.as_role("gate_officer")
    )
    assert (unknown.status_code, error_code(unknown)) == (404, "reader_not_configured")


def test_an_inmate_movement_needs_an_officer_not_the_kiosk_key(sc: SiteClient) -> None:
    form = {"inmate_id": "0" * 8 + "-0000-0000-0000-" + "0" * 12, "passage": "court_out",
            "order_reference": "PN-1/2026"}  # fmt: skip
    frame = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 90, 90)).save(
        frame, "JPEG"
    )  # a frame: no image is refused first
    image = {"image": ("f.jpg", frame.getvalue(), "image/jpeg")}
    kiosk = sc.client.post(
        "/v1/gates/main/inmate-movement", data=form, files=image, headers=sc.as_role("device")
    )
    assert (kiosk.status_code, error_code(kiosk)) == (403, "forbidden")
    officer = sc.client.post(
        "/v1/gates/main/inmate-movement", data=form, files=image, headers=sc.as_role("gate_officer")
    )
    # Past authorisation, the officer meets what this bare site lacks: the gate itself.
    assert (officer.status_code, error_code(officer)) == (404, "gate_not_found")

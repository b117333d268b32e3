"""A gate request must carry a frame: an empty file or bytes that are no image are refused with
a stable code and record nothing; a real frame with no usable face is still a recorded denial."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.integration.conftest import SiteClient


def error_code(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["error"]["code"])


def recorded(sc: SiteClient) -> int:
    with sc.site.db.reading() as tx:
        return int(tx.execute("SELECT count(*) FROM gate_events").fetchone()[0])


@pytest.fixture(scope="module")
def gate(site_client: SiteClient) -> SiteClient:
    response = site_client.client.post(
        "/v1/gates",
        json={"id": "main", "name": "Main", "directions": ["in", "out"],
              "roles": ["staff", "visitor"]},
        headers=site_client.as_role("site_admin"),
    )  # fmt: skip
    assert response.status_code in (201, 409), response.text
    return site_client


@pytest.mark.parametrize(
    ("image", "status", "code"),
    [
        (("frame.jpg", b"", "image/jpeg"), 422, "image_missing"),
        (("frame.jpg", b"<html><script>1</script></html>", "image/jpeg"), 400, "image_invalid"),
        (("frame.png", b"\x89PNG\r\n\x1a\nnot really", "image/png"), 400, "image_invalid"),
        (None, 422, "input_invalid"),
    ],
)
@pytest.mark.parametrize("passage", ["visitor-exit", "staff"])
def test_a_gate_request_without_a_frame_is_refused_and_records_nothing(
    gate: SiteClient, image: tuple[str, bytes, str] | None, status: int, code: str, passage: str
) -> None:
    before = recorded(gate)
    response = gate.client.post(
        f"/v1/gates/main/{passage}",
        files={"image": image} if image else {"other": ("x.txt", b"x", "text/plain")},
        data={"direction": "in"},
        headers=gate.as_role("device"),
    )
    assert (response.status_code, error_code(response)) == (status, code), response.text
    assert recorded(gate) == before


def test_a_real_frame_with_no_face_is_still_a_recorded_denial(gate: SiteClient) -> None:
    ok, blank = cv2.imencode(".png", np.full((480, 640, 3), 90, dtype=np.uint8))
    assert ok
    before = recorded(gate)
    response = gate.client.post(
        "/v1/gates/main/staff",
        files={"image": ("blank.png", blank.tobytes(), "image/png")},
        data={"direction": "in"},
        headers=gate.as_role("device"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "face_unusable"
    assert recorded(gate) == before + 1

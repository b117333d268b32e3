"""The HTTP API with the real models: analyse, compare, readiness and every bad-input code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.factories import encode
from tests.integration.conftest import SiteClient, make_site_client

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def client(site_client: SiteClient) -> TestClient:
    """The site's client, signed in as a gate officer."""
    site_client.client.headers.update(site_client.as_role("gate_officer"))
    return site_client.client


def _photo(dev_faces: Path, relative: str) -> tuple[str, bytes, str]:
    return (relative.replace("/", "_"), (dev_faces / relative).read_bytes(), "image/jpeg")


def test_ready_once_models_are_loaded(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200, response.text
    assert response.json()["pack"] == "open-yunet-dlib"


def test_analyse_returns_face_quality_liveness_and_a_unit_template(
    client: TestClient, dev_faces: Path
) -> None:
    response = client.post(
        "/v1/faces/analyse", files={"image": _photo(dev_faces, "facerec-obama/1.jpg")}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["template"]) == 128
    assert np.linalg.norm(body["template"]) == pytest.approx(1.0, abs=1e-4)
    assert len(body["landmarks"]) == 5
    assert 0.0 <= body["live_score"] <= 1.0
    assert "accepted" in body["quality"]


def test_compare_matches_the_same_person_and_not_a_stranger(
    client: TestClient, dev_faces: Path
) -> None:
    same = client.post(
        "/v1/faces/compare",
        files={
            "probe": _photo(dev_faces, "facerec-obama/1.jpg"),
            "reference": _photo(dev_faces, "facerec-obama/2.jpg"),
        },
    ).json()
    other = client.post(
        "/v1/faces/compare",
        files={
            "probe": _photo(dev_faces, "facerec-obama/1.jpg"),
            "reference": _photo(dev_faces, "deepface-img8/1.jpg"),
        },
    ).json()
    assert same["match"] is True and same["score"] >= same["threshold"]
    assert other["match"] is False and other["score"] < other["threshold"]
    assert same["target_fmr"] == pytest.approx(1e-3)


def _error(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()["error"]
    assert body["message"]["id"] and body["message"]["en"]  # both languages, always
    return str(body["code"])


def test_bad_uploads_get_their_codes(client: TestClient) -> None:
    cases = [
        (("a.txt", b"plain text", "text/plain"), 415, "media_type_unsupported"),
        (("a.jpg", b"not really a jpeg", "image/jpeg"), 400, "image_invalid"),
        (
            ("a.png", encode(np.zeros((20, 20, 3), np.uint8), "PNG"), "image/png"),
            422,
            "image_too_small",
        ),
        (
            ("a.png", encode(np.full((480, 640, 3), 127, np.uint8), "PNG"), "image/png"),
            422,
            "face_not_found",
        ),
        (
            ("big.bmp", b"BM" + b"\x00" * (2 * 1024 * 1024 + 10), "image/bmp"),
            413,
            "image_too_large",
        ),
    ]
    for upload, status, code in cases:
        response = client.post("/v1/faces/analyse", files={"image": upload})
        assert (response.status_code, _error(response)) == (status, code), upload[0]


def test_a_missing_field_is_a_clear_422(client: TestClient) -> None:
    response = client.post("/v1/faces/compare", files={"probe": ("a.jpg", b"x", "image/jpeg")})
    assert response.status_code == 422
    assert _error(response) == "input_invalid"


def test_without_models_the_service_starts_but_is_not_ready(tmp_path: Path) -> None:
    for empty in make_site_client(tmp_path / "no-models", tmp_path / "data"):
        assert empty.client.get("/health").status_code == 200
        empty.site.model_fetch.wait(
            60
        )  # the first start tries the pinned addresses: none answers here
        ready = empty.client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["problem"]["code"] == "models_fetch_failed"
        response = empty.client.post(
            "/v1/faces/analyse",
            files={"image": ("a.jpg", b"x", "image/jpeg")},
            headers=empty.as_role("gate_officer"),
        )
        assert (response.status_code, _error(response)) == (503, "models_fetch_failed")

"""The enrolment desk through HTTP with the real models: capture, duplicate, decide, commit,
identify, verify; each role's refusals; erasure; the audit chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.security import PERMISSIONS
from enrollment.audit import verify_chain
from site_sync.projection import check_gallery
from tests.integration.conftest import SiteClient, error_code, photo

pytestmark = pytest.mark.model

INMATE = {
    "full_name": "Budi Santoso",
    "birth_date": "1990-12-01",
    "sex": "M",
    "registration_number": "B.I-123/2024",
}
VISITOR = {
    "full_name": "Siti Aminah",
    "birth_date": "1985-03-07",
    "sex": "F",
    "nik": "3201014703850001",
    "consent_purpose": "verifikasi wajah saat kunjungan",
}


def capture(
    sc: SiteClient, dev_faces: Path, role: str, photos: list[str], target: str | None = None
) -> str:
    """Open a session and send frames until it is ready; return its id."""
    headers = sc.as_role("enrolment_officer")
    body: dict[str, Any] = {"role": role, **({"identity_id": target} if target else {})}
    session = sc.client.post("/v1/captures", json=body, headers=headers).json()["session_id"]
    for relative in photos:
        feedback = sc.client.post(
            f"/v1/captures/{session}/frames",
            files={"image": photo(dev_faces, relative)},
            headers=headers,
        ).json()
        if feedback["ready"]:
            return str(session)
    raise AssertionError(f"not enough accepted captures from {photos}: last feedback {feedback}")


def supervisor_token(sc: SiteClient) -> str:
    """The supervisor's session token, as the desk sends it for a guarded decision."""
    return sc.as_role("supervisor")["Authorization"].removeprefix("Bearer ")


def commit(
    sc: SiteClient,
    session: str,
    identity: dict[str, Any] | None,
    decisions: list[dict[str, str]] | None = None,
    supervisor: str | None = None,
):  # type: ignore[no-untyped-def]
    body = {"identity": identity, "decisions": decisions or [], "supervisor_token": supervisor}
    return sc.client.post(
        f"/v1/captures/{session}/commit", json=body, headers=sc.as_role("enrolment_officer")
    )


@pytest.fixture(scope="module")
def inmate_id(site_client: SiteClient, dev_faces: Path) -> str:
    session = capture(
        site_client, dev_faces, "inmate", [f"deepface-img26/{n}.jpg" for n in range(1, 7)]
    )
    response = commit(site_client, session, INMATE)
    assert response.status_code == 201, response.text
    assert response.json()["created"] is True
    return str(response.json()["identity_id"])


def test_an_enrolled_inmate_is_identified_and_verified_from_another_photo(
    site_client: SiteClient, dev_faces: Path, inmate_id: str
) -> None:
    headers = site_client.as_role("gate_officer")
    found = site_client.client.post(
        "/v1/identify",
        files={"image": photo(dev_faces, "deepface-img26/8.jpg")},
        data={"roles": ["inmate"]},
        headers=headers,
    ).json()
    assert found["result"] == "candidates"
    assert found["candidates"][0]["identity_id"] == inmate_id
    assert found["candidates"][0]["full_name"] == "Budi Santoso"
    verified = site_client.client.post(
        "/v1/verify",
        data={"identity_id": inmate_id},
        files={"image": photo(dev_faces, "deepface-img26/7.jpg")},
        headers=headers,
    ).json()
    assert verified["match"] is True and verified["score"] >= verified["threshold"]
    stranger = site_client.client.post(
        "/v1/verify",
        data={"identity_id": inmate_id},
        files={"image": photo(dev_faces, "facerec-obama/1.jpg")},
        headers=headers,
    ).json()
    assert stranger["match"] is False


def test_the_same_face_under_a_new_name_is_never_saved_silently(
    site_client: SiteClient, dev_faces: Path, inmate_id: str
) -> None:
    session = capture(
        site_client,
        dev_faces,
        "visitor",
        ["deepface-img26/7.jpg", "deepface-img26/8.jpg", "deepface-img26/1.jpg"],
    )
    refused = commit(site_client, session, VISITOR)
    assert (refused.status_code, error_code(refused)) == (409, "possible_duplicate")
    candidate = refused.json()["error"]["details"]["candidates"][0]
    assert candidate["identity_id"] == inmate_id and candidate["role"] == "inmate"
    assert candidate["full_name"] == "Budi Santoso" and candidate["photo_url"].endswith("/photo")
    stranger = "00000000-0000-0000-0000-000000000000"
    sneaky = commit(site_client, session, None, [
        {"candidate_identity_id": inmate_id, "decision": "different_person", "reason": "other"},
        {"candidate_identity_id": stranger, "decision": "same_person", "reason": "add to this record"},
    ])  # fmt: skip
    assert (sneaky.status_code, error_code(sneaky)) == (422, "decision_invalid")
    shown = site_client.client.get(
        f"/v1/captures/{session}/duplicates", headers=site_client.as_role("enrolment_officer")
    ).json()
    assert shown["candidates"][0]["full_name"] == "Budi Santoso"
    no_reason = commit(
        site_client,
        session,
        VISITOR,
        [{"candidate_identity_id": inmate_id, "decision": "different_person", "reason": ""}],
    )
    assert (no_reason.status_code, error_code(no_reason)) == (422, "decision_invalid")
    answer = [
        {"candidate_identity_id": inmate_id, "decision": "same_person", "reason": "re-offender"}
    ]
    alone = commit(
        site_client, session, None, answer
    )  # an active inmate's face: not the desk's call
    assert (alone.status_code, error_code(alone)) == (403, "supervisor_required")
    same = commit(site_client, session, None, answer, supervisor=supervisor_token(site_client))
    assert same.status_code == 201, same.text
    assert same.json() | {"template_ids": None} == {
        "identity_id": inmate_id,
        "created": False,
        "template_ids": None,
        "national_search": {
            "status": "not_configured",
            "reason": "no national registry configured",
        },
    }
    again = commit(site_client, session, None, [])
    assert (again.status_code, error_code(again)) == (409, "capture_session_closed")


def test_a_different_person_decision_is_recorded_and_a_new_identity_created(
    site_client: SiteClient, dev_faces: Path, inmate_id: str
) -> None:
    session = capture(
        site_client,
        dev_faces,
        "visitor",
        ["deepface-img26/2.jpg", "deepface-img26/3.jpg", "deepface-img26/4.jpg"],
    )
    decision = {
        "candidate_identity_id": inmate_id,
        "decision": "different_person",
        "reason": "twin sister, checked KTP",
    }
    response = commit(site_client, session, VISITOR, [decision], supervisor_token(site_client))
    assert response.status_code == 201, response.text
    visitor_id = response.json()["identity_id"]
    assert visitor_id != inmate_id
    with site_client.site.db.reading() as tx:
        row = tx.execute(
            "SELECT decision, reason, officer FROM duplicate_decisions WHERE session_id = ?",
            (session,),
        ).fetchone()
    assert tuple(row) == ("different_person", "twin sister, checked KTP", "enrolment_officer")


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        ({**VISITOR, "nik": "3201014703850000"}, "nik_invalid"),
        ({**VISITOR, "nik": "3201010703850001"}, "nik_invalid"),  # a man's date in a woman's NIK
        ({k: v for k, v in VISITOR.items() if k != "consent_purpose"}, "field_missing"),
    ],
)
def test_bad_registration_data_is_refused_with_its_code(
    site_client: SiteClient, dev_faces: Path, identity: dict[str, Any], code: str
) -> None:
    session = capture(
        site_client,
        dev_faces,
        "visitor",
        ["facerec-obama/1.jpg", "facerec-obama/2.jpg", "facerec-obama/3.jpg"],
    )
    response = commit(site_client, session, identity)
    assert (response.status_code, error_code(response)) == (422, code)
    if code == "field_missing":  # named as the request spells it, so the caller knows what to add
        assert response.json()["error"]["details"]["field"] == "consent_purpose"


def test_frames_without_a_usable_face_get_reasons_not_errors(
    site_client: SiteClient, dev_faces: Path
) -> None:
    headers = site_client.as_role("enrolment_officer")
    session = site_client.client.post(
        "/v1/captures", json={"role": "staff"}, headers=headers
    ).json()["session_id"]
    blank = ("blank.png", _blank_png(), "image/png")
    feedback = site_client.client.post(
        f"/v1/captures/{session}/frames", files={"image": blank}, headers=headers
    ).json()
    assert feedback["accepted"] is False and feedback["reasons"][0]["code"] == "face_not_found"
    tight = site_client.client.post(
        f"/v1/captures/{session}/frames",
        files={"image": photo(dev_faces, "orl-s01/1.jpg")},
        headers=headers,
    ).json()
    assert tight["accepted"] is False  # a 92x112 scan: too small and not live
    assert {r["code"] for r in tight["reasons"]} & {"too_small", "not_live"}
    early = commit(
        site_client,
        session,
        {"full_name": "X", "nip": "198005152005031001", "birth_date": "1980-05-15", "sex": "M"},
    )
    assert (early.status_code, error_code(early)) == (422, "captures_insufficient")


def _blank_png() -> bytes:
    import numpy as np

    from tests.factories import encode

    return encode(np.full((480, 640, 3), 90, dtype=np.uint8), "PNG")


ROUTES = {
    "identity.enrol": ("POST", "/v1/captures", {"json": {"role": "inmate"}}),
    "identity.status": (
        "POST",
        "/v1/identities/00000000-0000-0000-0000-000000000000/status",
        {"json": {"status": "banned", "reason": "test"}},
    ),
    "identity.erase": (
        "POST",
        "/v1/identities/00000000-0000-0000-0000-000000000000/erase",
        {"json": {"reason": "request"}},
    ),
    "identity.read": ("GET", "/v1/identities/00000000-0000-0000-0000-000000000000", {}),
    "face.identify": ("POST", "/v1/identify", {"files": {"image": ("a.png", b"x", "image/png")}}),
}


@pytest.mark.parametrize("permission", sorted(ROUTES))
def test_every_role_without_a_permission_is_refused_and_nobody_gets_in_without_credentials(
    site_client: SiteClient, permission: str
) -> None:
    method, path, kwargs = ROUTES[permission]
    for role, headers in site_client.headers.items():
        response = site_client.client.request(method, path, headers=headers, **kwargs)
        if role in PERMISSIONS[permission]:
            assert response.status_code != 403, (role, permission)
        else:
            assert (response.status_code, error_code(response)) == (403, "forbidden"), (
                role,
                permission,
            )
    anonymous = site_client.client.request(method, path, **kwargs)
    assert (anonymous.status_code, error_code(anonymous)) == (401, "unauthenticated")
    forged = site_client.client.request(
        method, path, headers={"Authorization": "Bearer forged"}, **kwargs
    )
    assert forged.status_code == 401


def test_a_wrong_password_gets_no_token(site_client: SiteClient) -> None:
    response = site_client.client.post(
        "/v1/auth/login", json={"username": "site_admin", "password": "wrong password"}
    )
    assert (response.status_code, error_code(response)) == (401, "unauthenticated")
    assert response.json()["error"]["message"]["en"] == "Wrong username or password."


def test_banning_moves_the_person_out_of_active_searches(
    site_client: SiteClient, dev_faces: Path
) -> None:
    session = capture(
        site_client, dev_faces, "visitor", [f"deepface-img8/{n}.jpg" for n in range(1, 6)]
    )
    visitor = {**VISITOR, "full_name": "Dewi", "nik": "3201014703850002"}
    visitor_id = commit(site_client, session, visitor).json()["identity_id"]
    banned = site_client.client.post(
        f"/v1/identities/{visitor_id}/status",
        json={"status": "banned", "reason": "smuggling"},
        headers=site_client.as_role("supervisor"),
    )
    assert banned.json()["status"] == "banned"
    probe = {"image": photo(dev_faces, "deepface-img8/7.jpg")}
    headers = site_client.as_role("gate_officer")
    active = site_client.client.post("/v1/identify", files=probe, headers=headers).json()
    assert visitor_id not in [c["identity_id"] for c in active["candidates"]]
    watchlist = site_client.client.post(
        "/v1/identify",
        files={"image": photo(dev_faces, "deepface-img8/7.jpg")},
        data={"statuses": ["banned"]},
        headers=headers,
    ).json()
    assert watchlist["candidates"][0]["identity_id"] == visitor_id


def test_erasing_a_visitor_removes_templates_and_images_but_keeps_the_audit(
    site_client: SiteClient, dev_faces: Path
) -> None:
    session = capture(
        site_client,
        dev_faces,
        "visitor",
        [
            "facerec-kit_harington/1.jpg",
            "facerec-kit_harington/2.jpg",
            "facerec-kit_harington/3.jpg",
        ],
    )
    visitor = {
        **VISITOR,
        "full_name": "Jon",
        "sex": "M",
        "birth_date": "1990-12-01",
        "nik": "3201010112900002",
    }
    visitor_id = commit(site_client, session, visitor).json()["identity_id"]
    erased = site_client.client.post(
        f"/v1/identities/{visitor_id}/erase",
        json={"reason": "visitor asked"},
        headers=site_client.as_role("site_admin"),
    )
    assert erased.status_code == 200 and erased.json()["status"] == "erased"
    with site_client.site.db.reading() as tx:
        assert (
            tx.execute(
                "SELECT COUNT(*) FROM templates WHERE identity_id = ?", (visitor_id,)
            ).fetchone()[0]
            == 0
        )
        assert (
            tx.execute(
                "SELECT COUNT(*) FROM images WHERE identity_id = ? AND data IS NOT NULL",
                (visitor_id,),
            ).fetchone()[0]
            == 0
        )
        actions = [
            r[0]
            for r in tx.execute("SELECT action FROM audit_events WHERE subject = ?", (visitor_id,))
        ]
    assert actions == ["identity.enrolled", "identity.erased"]
    found = site_client.client.post(
        "/v1/identify",
        files={"image": photo(dev_faces, "facerec-kit_harington/1.jpg")},
        headers=site_client.as_role("gate_officer"),
    ).json()
    assert visitor_id not in [c["identity_id"] for c in found["candidates"]]


def test_database_gallery_and_audit_chain_agree_after_all_of_it(site_client: SiteClient) -> None:
    site = site_client.site
    assert check_gallery(site.db, site.vault, site.gallery(), site.engine().pack_id).ok
    with site.db.reading() as tx:
        assert verify_chain(tx) is None
    ready = site_client.client.get("/ready").json()
    assert ready["ready"] is True and ready["gallery"] > 0
    metrics = site_client.client.get("/metrics").text
    assert "gerbang_gallery_templates" in metrics and "gerbang_requests_total" in metrics


def test_re_enrolment_can_replace_the_templates(
    site_client: SiteClient, dev_faces: Path, inmate_id: str
) -> None:
    session = capture(
        site_client,
        dev_faces,
        "inmate",
        ["deepface-img26/7.jpg", "deepface-img26/8.jpg"],
        target=inmate_id,
    )
    headers = site_client.as_role("enrolment_officer")
    others = site_client.client.get(f"/v1/captures/{session}/duplicates", headers=headers).json()[
        "candidates"
    ]
    decisions = [
        {
            "candidate_identity_id": c["identity_id"],
            "decision": "different_person",
            "reason": "twin",
        }
        for c in others
    ]
    response = site_client.client.post(
        f"/v1/captures/{session}/commit",
        json={"replace_templates": True, "decisions": decisions},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["identity_id"] == inmate_id and body["created"] is False
    site = site_client.site
    with site.db.reading() as tx:
        kept = [
            r[0]
            for r in tx.execute(
                "SELECT id FROM templates WHERE identity_id = ? ORDER BY id", (inmate_id,)
            )
        ]
    assert kept == body["template_ids"]
    assert check_gallery(site.db, site.vault, site.gallery(), site.engine().pack_id).ok


def test_the_outbox_row_carries_the_templates_but_no_photo(
    site_client: SiteClient, inmate_id: str
) -> None:
    import base64
    import json

    import numpy as np

    from enrollment.vault import open_payload

    with site_client.site.db.reading() as tx:
        row = tx.execute(
            "SELECT payload FROM outbox WHERE entity_id = ? AND kind = 'identity.enrolled' ORDER BY seq LIMIT 1",
            (inmate_id,),
        ).fetchone()
    stored = json.loads(row[0])
    assert "templates" not in stored and "sealed_b64" in stored  # the vectors wait sealed
    payload = open_payload(site_client.site.vault, "identity.enrolled", inmate_id, stored)
    assert (
        payload["identity"]["full_name"] == "Budi Santoso"
        and "photo" not in json.dumps(payload).lower()
    )
    vectors = [
        np.frombuffer(base64.b64decode(t["vector_f32le_b64"]), dtype="<f4")
        for t in payload["templates"]
    ]
    assert vectors and all(v.shape == (128,) and abs(np.linalg.norm(v) - 1) < 1e-4 for v in vectors)

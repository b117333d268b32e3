"""The desk's guard (issue 14), through the site API with the real models and real photos.

- A visitor or staff enrolment whose face is an active Warga Binaan's is flagged
  `inmate_lookalike`; any decision about it needs a supervisor, checked by the server (the
  officer's own role, or a supervisor's live token sent with the commit).
- "Same person" across roles needs a supervisor; "same person" within the role keeps the typed
  values the officer chose, audited with the stored ones.
- The visited Warga Binaan is found by registration number or name, active ones only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SiteClient, make_site_client
from tests.integration.test_enrolment_api import INMATE, VISITOR, capture, commit, supervisor_token

pytestmark = pytest.mark.model

PERSON = "deepface-img26"


@pytest.fixture(scope="module")
def site_client(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("desk-guard"))


@pytest.fixture(scope="module")
def inmate_id(site_client: SiteClient, dev_faces: Path) -> str:
    session = capture(site_client, dev_faces, "inmate", [f"{PERSON}/{n}.jpg" for n in (1, 2, 3)])
    response = commit(site_client, session, INMATE)
    assert response.status_code == 201, response.text
    return str(response.json()["identity_id"])


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_a_visitor_with_an_inmates_face_needs_a_supervisor_whatever_the_officer_decides(
    site_client: SiteClient, dev_faces: Path, inmate_id: str
) -> None:
    session = capture(site_client, dev_faces, "visitor", [f"{PERSON}/{n}.jpg" for n in (5, 6, 7)])
    shown = site_client.client.get(
        f"/v1/captures/{session}/duplicates", headers=site_client.as_role("enrolment_officer")
    ).json()["candidates"]
    assert [(c["identity_id"], c["inmate_lookalike"]) for c in shown] == [(inmate_id, True)]
    assert shown[0]["stored"]["registration_number"] == INMATE["registration_number"]
    different = [{"candidate_identity_id": inmate_id, "decision": "different_person",
                  "reason": "kakak kembar, KTP diperiksa"}]  # fmt: skip
    refused = commit(site_client, session, VISITOR, different)
    assert _code(refused) == (403, "supervisor_required")
    assert refused.json()["error"]["details"]["candidates"] == [
        {"candidate_identity_id": inmate_id, "why": "inmate_lookalike"}
    ]
    officer_token = site_client.as_role("enrolment_officer")["Authorization"][7:]
    not_a_supervisor = commit(site_client, session, VISITOR, different, officer_token)
    assert _code(not_a_supervisor) == (403, "supervisor_required")
    signed = commit(site_client, session, VISITOR, different, supervisor_token(site_client))
    assert signed.status_code == 201, signed.text
    with site_client.site.db.reading() as tx:
        row = tx.execute(
            "SELECT details FROM audit_events WHERE action = 'identity.enrolled' AND subject = ?",
            (signed.json()["identity_id"],),
        ).fetchone()
    assert json.loads(row[0])["supervisor"] == "supervisor"


def test_same_person_keeps_the_typed_values_the_officer_chose(
    site_client: SiteClient, dev_faces: Path
) -> None:
    first = capture(
        site_client, dev_faces, "visitor", [f"deepface-img8/{n}.jpg" for n in (1, 2, 3)]
    )
    typed = {**VISITOR, "full_name": "Barak Obama", "sex": "M", "birth_date": "1961-08-04",
             "nik": "3201010408610002"}  # fmt: skip
    created = commit(site_client, first, typed)
    assert created.status_code == 201, created.text
    known = created.json()["identity_id"]
    again = capture(
        site_client, dev_faces, "visitor", [f"deepface-img8/{n}.jpg" for n in (4, 5, 6, 7)]
    )
    same = [{"candidate_identity_id": known, "decision": "same_person", "reason": "sama"}]
    body = {"identity": None, "decisions": same, "keep_typed": {"full_name": "Barack Obama"}}
    joined = site_client.client.post(
        f"/v1/captures/{again}/commit", json=body, headers=site_client.as_role("enrolment_officer")
    )
    assert joined.status_code == 201 and joined.json()["identity_id"] == known, joined.text
    record = site_client.client.get(
        f"/v1/identities/{known}", headers=site_client.as_role("enrolment_officer")
    ).json()
    assert (record["full_name"], record["nik"]) == ("Barack Obama", typed["nik"])
    with site_client.site.db.reading() as tx:
        row = tx.execute(
            "SELECT details FROM audit_events WHERE action = 'identity.reconciled' AND subject = ?",
            (known,),
        ).fetchone()
    details = json.loads(row[0])
    assert (details["typed"], details["stored"]) == ({"full_name": "Barack Obama"}, {"full_name": "Barak Obama"})  # fmt: skip


def test_same_person_across_roles_needs_a_supervisor(
    site_client: SiteClient, dev_faces: Path, inmate_id: str
) -> None:
    session = capture(site_client, dev_faces, "staff", [f"{PERSON}/{n}.jpg" for n in (4, 8)])
    shown = site_client.client.get(
        f"/v1/captures/{session}/duplicates", headers=site_client.as_role("enrolment_officer")
    ).json()["candidates"]
    answers = [{"candidate_identity_id": c["identity_id"], "reason": "sama",
                "decision": "same_person" if c["identity_id"] == inmate_id else "different_person"}
               for c in shown]  # fmt: skip
    refused = commit(site_client, session, None, answers)
    assert _code(refused) == (403, "supervisor_required")
    whys = {c["why"] for c in refused.json()["error"]["details"]["candidates"]}
    assert whys == {"inmate_lookalike", "cross_role_merge"}


def test_the_visited_inmate_is_found_by_registration_number_or_name(
    site_client: SiteClient, inmate_id: str
) -> None:
    headers = site_client.as_role("enrolment_officer")

    def found(text: str) -> list[str]:
        answer = site_client.client.get("/v1/identities/active-inmates", params={"q": text}, headers=headers)  # fmt: skip
        assert answer.status_code == 200, answer.text
        return [i["identity_id"] for i in answer.json()["inmates"]]

    assert found(INMATE["registration_number"][:5]) == [inmate_id]
    assert found("santoso") == [inmate_id]
    assert found("%") == []  # typed characters are plain text, not wildcards
    gate = site_client.as_role("gate_officer")
    refused = site_client.client.get("/v1/identities/active-inmates", params={"q": "B"}, headers=gate)  # fmt: skip
    assert refused.status_code == 403

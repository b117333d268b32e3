"""The enrolment desk's duplicate check across the estate: a real registry (uvicorn on loopback,
real PostgreSQL) and real site services (real models and photos, their sync agents running),
talking signed HTTP.

- A person enrolled at site A is shown at site B's desk as a national candidate (no photo: the
  owning site, name and numbers) and blocks the save until the officer answers; 'same person'
  enrols at B and the answer reaches the registry's duplicate case for the pair.
- The local check still runs when the registry answers: B's own people stay local candidates.
- A registry heard at the duplicate check and not at the commit: the people shown still block
  the save until answered.
- A registry that hangs or is gone costs at most the timeout: the desk saves on the local check
  and the result and the audit event say `national_search: unavailable` with the reason.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn

from edge.settings import Settings, SyncSettings
from edge.sync_cli import key_path
from gallery_sync.protocol import new_site_key
from registry.app import create_registry_app
from registry.cases import list_cases
from registry.service import RegistryService
from registry.settings import RegistrySettings
from site_sync.national_lookup import NationalLookup
from site_sync.site_key import site_key
from tests.integration import test_registry as shared
from tests.integration.conftest import SiteClient, error_code, make_site_client
from tests.integration.test_enrolment_api import capture, commit

pytestmark = pytest.mark.model

database_url = shared.database_url  # the registry module's fixture: a fresh database here
PERSON = [f"deepface-img26/{n}.jpg" for n in range(1, 9)]
OTHER = [f"deepface-img8/{n}.jpg" for n in range(1, 8)]
INMATE = {"full_name": "Budi Santoso", "birth_date": "1990-12-01", "sex": "M"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    """Poll until check() is truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


@contextmanager
def _site(
    model_dir: Path,
    data_dir: Path,
    site_id: str,
    url: str,
    registry: RegistryService | None,
    search_timeout_s: float = 10,
) -> Iterator[SiteClient]:
    """A site syncing with `url`, its key registered at `registry` (if given). The estate's sites
    wait long for the national search: a busy CI machine must not turn 'searched' into a miss."""
    public_key = new_site_key(key_path(Settings(data_dir=data_dir)))
    if registry is not None:
        registry.add_site(site_id, f"Lapas {site_id}", "KW-JABAR", public_key, "test")
    sync = SyncSettings(registry_url=url, poll_seconds=0.2, max_backoff_seconds=1,
                        search_timeout_seconds=search_timeout_s)  # fmt: skip
    yield from make_site_client(model_dir, data_dir, site_id=site_id, sync=sync)


@dataclass
class Estate:
    registry: RegistryService
    url: str
    a: SiteClient
    b: SiteClient

    def holds(self, identity_id: str) -> bool:
        with psycopg.connect(self.registry.settings.database_url) as connection:
            found = connection.execute(
                "SELECT 1 FROM national_identities WHERE id = %s", (identity_id,)
            )
            return found.fetchone() is not None


@pytest.fixture(scope="module")
def estate(
    database_url: str, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Estate]:
    settings = RegistrySettings(database_url=database_url)
    registry = RegistryService(settings)
    port = _free_port()
    config = uvicorn.Config(create_registry_app(settings, registry), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="registry", daemon=True)
    thread.start()
    try:
        _wait_for(lambda: server.started, "the registry to listen")
        url, root = f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("estate")
        with ExitStack() as stack:
            a = stack.enter_context(_site(model_dir, root / "a", "UPT-A", url, registry))
            b = stack.enter_context(_site(model_dir, root / "b", "UPT-B", url, registry))
            yield Estate(registry, url, a, b)
    finally:
        server.should_exit = True
        thread.join(30)


def _query(site: SiteClient, sql: str, *params: Any) -> list[Any]:
    with site.site.db.reading() as tx:
        return [tuple(row) for row in tx.execute(sql, params).fetchall()]


def test_a_person_enrolled_elsewhere_must_be_answered_and_the_answer_reaches_the_case(
    estate: Estate, dev_faces: Path
) -> None:
    a, b = estate.a, estate.b
    at_a = commit(a, capture(a, dev_faces, "inmate", PERSON[:4]),
                  {**INMATE, "registration_number": "B.I-1/2024"})  # fmt: skip
    assert at_a.status_code == 201, at_a.text
    assert at_a.json()["national_search"] == {"status": "searched", "reason": None}
    person = at_a.json()["identity_id"]
    _wait_for(lambda: estate.holds(person), "A's enrolment at the registry")

    session = capture(b, dev_faces, "inmate", PERSON[4:])
    draft = {**INMATE, "full_name": "Joko Susilo", "registration_number": "B.I-2/2024"}
    shown = b.client.get(f"/v1/captures/{session}/duplicates", headers=b.as_role("enrolment_officer"))  # fmt: skip
    assert (
        shown.json()["candidates"] == [] and shown.json()["national_search"]["status"] == "searched"
    )
    [national] = shown.json()["national_candidates"]
    assert national | {"score": None, "threshold": None} == {
        "identity_id": person, "role": "inmate", "status": "active", "site_id": "UPT-A",
        "site_name": "Lapas UPT-A", "full_name": "Budi Santoso", "registration_number": "B.I-1/2024",
        "nik": None, "nip": None, "score": None, "threshold": None, "photo_url": None,
        "inmate_lookalike": False,  # an inmate enrolment: a look-alike is a visitor's or staff's
    }  # fmt: skip
    assert national["score"] >= national["threshold"] == estate.registry.policy.threshold

    refused = commit(b, session, draft)
    assert (refused.status_code, error_code(refused)) == (409, "possible_duplicate")
    details = refused.json()["error"]["details"]
    assert details["candidates"] == [] and [c["identity_id"] for c in details["national_candidates"]] == [person]  # fmt: skip
    no_reason = commit(b, session, draft, [{"candidate_identity_id": person, "decision": "different_person", "reason": " "}])  # fmt: skip
    assert (no_reason.status_code, error_code(no_reason)) == (422, "decision_invalid")

    same = [{"candidate_identity_id": person, "decision": "same_person", "reason": "same scar, re-offender"}]  # fmt: skip
    saved = commit(b, session, draft, same)
    assert saved.status_code == 201, saved.text
    at_b = saved.json()["identity_id"]
    assert saved.json()["created"] is True and at_b != person  # enrolled here, linked, not merged
    assert _query(b, "SELECT national_identity_id, owning_site, decision FROM national_decisions"
                     " WHERE identity_id = ?", at_b) == [(person, "UPT-A", "same_person")]  # fmt: skip
    [(audited,)] = _query(b, "SELECT details FROM audit_events WHERE action = 'identity.enrolled' AND subject = ?", at_b)  # fmt: skip
    [(outbox,)] = _query(b, "SELECT payload FROM outbox WHERE kind = 'identity.enrolled' AND entity_id = ?", at_b)  # fmt: skip
    for body in (json.loads(audited), json.loads(outbox)):
        assert body["national_search"]["status"] == "searched"
        assert [(d["national_identity_id"], d["decision"]) for d in body["national_decisions"]] == [(person, "same_person")]  # fmt: skip

    def case() -> dict[str, Any] | None:
        with estate.registry.db.transaction() as tx:
            cases = list_cases(tx)
        return next((c for c in cases if {c["identity_a"], c["identity_b"]} == {person, at_b}), None)  # fmt: skip

    opened = _wait_for(case, "the duplicate case for A's and B's enrolments")
    assert [(d["site_id"], d["candidate_id"], d["decision"]) for d in opened["site_decisions"]] == [
        ("UPT-B", person, "same_person")
    ]

    # Once B's own enrolment is national too, the registry answers it again; it stays a local
    # candidate (with its photo), and A's person stays a national one: the local check runs anyway.
    again = capture(b, dev_faces, "inmate", PERSON[2:6])
    both = b.client.get(f"/v1/captures/{again}/duplicates", headers=b.as_role("enrolment_officer")).json()  # fmt: skip
    assert [c["identity_id"] for c in both["candidates"]] == [at_b]
    assert both["candidates"][0]["photo_url"] == f"/v1/identities/{at_b}/photo"
    assert [c["identity_id"] for c in both["national_candidates"]] == [person]


def test_a_registry_heard_at_the_check_and_not_at_the_commit_still_needs_the_answer(
    estate: Estate, dev_faces: Path
) -> None:
    """The officer was shown a person held elsewhere; the link dropping before the save must not
    let the save go through as if no one had been shown."""
    a, b = estate.a, estate.b
    at_a = commit(a, capture(a, dev_faces, "inmate", OTHER[:4]),
                  {**INMATE, "full_name": "Agus Salim", "registration_number": "B.I-4/2024"})  # fmt: skip
    assert at_a.status_code == 201, at_a.text
    person = at_a.json()["identity_id"]
    _wait_for(lambda: estate.holds(person), "A's enrolment at the registry")
    session = capture(b, dev_faces, "inmate", OTHER[4:])
    shown = b.client.get(f"/v1/captures/{session}/duplicates", headers=b.as_role("enrolment_officer")).json()  # fmt: skip
    assert person in [c["identity_id"] for c in shown["national_candidates"]]

    live, gone = b.site.enrolment.national, socket.create_server(("127.0.0.1", 0))
    port = gone.getsockname()[1]
    gone.close()  # nothing listens there now: refused at once
    b.site.enrolment.national = NationalLookup.connect(
        f"http://127.0.0.1:{port}", "UPT-B", site_key(b.site.settings), 0.5
    )
    try:
        draft = {**INMATE, "full_name": "Joko Susilo", "registration_number": "B.I-5/2024"}
        refused = commit(b, session, draft)
        assert (refused.status_code, error_code(refused)) == (409, "possible_duplicate")
        details = refused.json()["error"]["details"]
        assert person in [c["identity_id"] for c in details["national_candidates"]]
        assert details["national_search"]["status"] == "unavailable"
        assert "found earlier for this session stand" in details["national_search"]["reason"]
        answers = [{"candidate_identity_id": c["identity_id"], "decision": "different_person",
                    "reason": "different ears"} for c in details["national_candidates"]]  # fmt: skip
        saved = commit(b, session, draft, answers)
    finally:
        b.site.enrolment.national = live
    assert saved.status_code == 201, saved.text
    at_b = saved.json()["identity_id"]
    recorded = _query(b, "SELECT national_identity_id, decision FROM national_decisions WHERE identity_id = ?", at_b)  # fmt: skip
    assert (person, "different_person") in recorded


def test_with_the_registry_hanging_or_gone_the_desk_saves_on_the_local_check_and_says_why(
    estate: Estate, dev_faces: Path, model_dir: Path, tmp_path: Path
) -> None:
    hanging = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    url = f"http://127.0.0.1:{hanging.getsockname()[1]}"
    with _site(model_dir, tmp_path, "UPT-C", url, None, search_timeout_s=0.5) as c:
        first = commit(c, capture(c, dev_faces, "inmate", PERSON[:4]), {**INMATE, "registration_number": "B.I-3/2024"})  # fmt: skip
        hanging.close()  # now nothing listens there: refused at once
        session = capture(c, dev_faces, "visitor", ["facerec-obama/1.jpg", "facerec-obama/2.jpg", "facerec-obama/3.jpg"])  # fmt: skip
        shown = c.client.get(f"/v1/captures/{session}/duplicates", headers=c.as_role("enrolment_officer")).json()  # fmt: skip
        visitor = {"full_name": "Siti Aminah", "birth_date": "1985-03-07", "sex": "F",
                   "nik": "3201014703850001", "consent_purpose": "verifikasi wajah"}  # fmt: skip
        second = commit(c, session, visitor)
        [(audited,)] = _query(c, "SELECT details FROM audit_events WHERE action = 'identity.enrolled' AND subject = ?", second.json()["identity_id"])  # fmt: skip
    assert first.status_code == 201, first.text
    assert first.json()["national_search"]["status"] == "unavailable"
    assert first.json()["national_search"]["reason"].startswith("no answer within 0.5 s")
    assert (
        shown["national_search"]["status"] == "unavailable" and shown["national_candidates"] == []
    )
    assert second.status_code == 201, second.text
    assert second.json()["national_search"]["reason"].startswith("unreachable: ConnectError")
    assert json.loads(audited)["national_search"] == second.json()["national_search"]

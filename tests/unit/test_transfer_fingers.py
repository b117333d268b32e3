"""A transferred-in inmate's fingers, and a recovered site's, at the site (site_sync/apply.py,
site_sync/pulled_fingers.py, site_sync/recovery.py; issue 12): a real site database, finger index
and fused search, real FVC2002 prints through NBIS and MCC, the registry faked at the HTTP seam
(tests/unit/test_agent.py's harness) or at recovery's one call.

Stored where the gate's inmate alarm reads them and found by another impression of the same finger
with no face; a movement that requires a finger verifies; applied once however often the change
comes, and a record this desk enrolled (a transfer back, a backup) is not stored twice; a broken
record refuses the change, nothing stored, with the reason kept for the console.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import numpy as np
import pytest

from edge import wiring
from edge.site import Site
from enrollment.fused import FingerProbe
from enrollment.fused_search import FusedSearchResult
from enrollment.vault import aad_for
from site_sync.agent import SiteAgent
from site_sync.pulled import PulledChangeInvalid
from site_sync.recovery import Holdings, apply_holdings
from site_sync.state import PULL_ERROR, PULLED, read_json
from tests.unit.test_agent import (  # noqa: F401 (fixtures)
    PACK,
    SITE,
    FakeRegistry,
    agent,
    feed,
    get,
    record,
    registry,
    site,
    sleeps,
    state,
    unit_vectors,
    with_templates,
)
from tests.unit.test_watchlist_fingers_pull import (  # noqa: F401 (the prints fixture)
    POSITION,
    _finger_rows,
    _fingers,
    _image,
    prints,
)

TARGET_FMR = 1e-3


def _transfer(identity_id: str, fingers: list[dict[str, Any]], faces: int = 1) -> dict[str, Any]:
    """identity.transferred_in as registry/transfers.transfer sends it."""
    body = with_templates(record(identity_id, "Dedi"), unit_vectors(faces, 71))
    return {**body, "from_site": "UPT-B", "reason": "mutasi", "fingers": fingers}


def _inmate_alarm(at: Site, finger: np.ndarray) -> FusedSearchResult:
    """The gate's inmate search on a finger with no face (edge/gate/steps._inmate_by_finger)."""
    at._fusion = (
        at.finger_tail(),
        wiring.fusion_model(at.settings, PACK, tail=at.finger_tail()),
    )  # the seam: no face engine here
    probe = FingerProbe(finger, 500, POSITION)
    return at.fused_search.search(None, probe, ("inmate",), ("active",), None, None, 1.0,
                                    "gate_inmate")  # fmt: skip


def _alarmed(at: Site, finger: np.ndarray) -> list[str]:
    return [p.identity_id for p in _inmate_alarm(at, finger).matches("either")]


def _desk_record(at: Site, identity_id: str) -> bytes:
    """The ISO record the desk stored for the person's one enrolled finger."""
    with at.db.reading() as tx:
        [(sealed,)] = tx.execute(
            "SELECT iso_record FROM finger_templates WHERE identity_id = ?", (identity_id,)
        ).fetchall()
    return at.vault.open(sealed, aad_for("finger_templates", "iso_record", identity_id))


def test_a_transferred_inmate_is_found_by_finger_right_after_the_pull_and_stored_once(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
    prints: dict[str, Any],  # noqa: F811
) -> None:
    assert _alarmed(site, prints["same"]) == []
    feed(registry, ("identity.transferred_in", _transfer("t-1", _fingers(prints["entry"]))))
    assert agent.pull_pending() == 1
    assert get(site, "t-1").status == "active"
    [(digest, data, position, _)] = _finger_rows(site, "t-1")
    assert (digest, data, position) == (hashlib.sha256(prints["entry"]).hexdigest(), None, POSITION)

    [named] = _inmate_alarm(site, prints["same"]).matches("either")  # the other impression
    assert (named.identity_id, named.used) == ("t-1", ("finger",))
    assert _alarmed(site, prints["stranger"]) == []
    decision = site.fingers.verify("t-1", prints["same"], 500, TARGET_FMR, POSITION)
    assert decision.match  # a movement that requires a finger is no longer finger_not_enrolled

    feed(registry, ("identity.transferred_in", _transfer("t-1", _fingers(prints["entry"]))))
    assert agent.pull_pending() == 1  # the same change again
    assert len(_finger_rows(site, "t-1")) == 1
    with site.db.reading() as tx:
        events = tx.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'sync.identity.transferred_in'"
        ).fetchone()[0]
    assert events == 1  # the repeat changed nothing, so nothing was recorded


def test_an_inmate_transferred_back_keeps_one_copy_of_the_fingers_the_desk_enrolled(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
    prints: dict[str, Any],  # noqa: F811
    fingerprints: Any,
) -> None:
    feed(registry, ("identity.transferred_in", _transfer("t-2", [])))
    assert agent.pull_pending() == 1
    feedback = site.fingers.enrol(
        "t-2", POSITION, _image(fingerprints, "101_1.tif"), 500, "petugas"
    )
    assert feedback.accepted
    enrolled = _desk_record(site, "t-2")  # what the desk pushed: the registry holds these bytes
    back = _fingers(enrolled, prints["other"])  # and one finger another site enrolled
    feed(registry, ("identity.transferred_in", _transfer("t-2", back)))
    assert agent.pull_pending() == 1
    rows = _finger_rows(site, "t-2")
    assert len(rows) == 2 and rows[1][0] == hashlib.sha256(prints["other"]).hexdigest()


def test_a_transfer_with_a_broken_finger_record_is_refused_whole_with_its_reason(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
    prints: dict[str, Any],  # noqa: F811
) -> None:
    broken = _fingers(prints["entry"]) + _fingers(b"FMR\0 not a record")
    feed(registry, ("identity.transferred_in", _transfer("t-3", broken)))
    with pytest.raises(PulledChangeInvalid) as refused:
        agent.pull_pending()
    assert refused.value.code == "sync_change_invalid"
    with site.db.reading() as tx:
        error = read_json(tx, PULL_ERROR) or {}
        assert tx.execute("SELECT count(*) FROM identities WHERE id = 't-3'").fetchone()[0] == 0
        assert tx.execute("SELECT count(*) FROM finger_templates").fetchone()[0] == 0
    assert (error["seq"], error["kind"]) == (1, "identity.transferred_in")
    assert "fingers.1.iso_record_b64" in error["reason"]
    assert state(site, PULLED) == 0  # the cursor stays: the change comes again once fixed


def _recovered(identity_id: str, fingers: list[dict[str, Any]], version: int = 1) -> dict[str, Any]:
    """A person as registry/recovery.holdings hands it back."""
    body = with_templates(record(identity_id, "Dedi", origin=SITE), unit_vectors(1, 73))
    return {**body, "fingers": fingers, "status": "active", "version": version}


def test_a_recovered_site_finds_its_people_by_finger_without_storing_a_record_twice(
    site: Site,  # noqa: F811
    prints: dict[str, Any],  # noqa: F811
    fingerprints: Any,
) -> None:
    lost, kept = str(uuid.uuid4()), str(uuid.uuid4())
    people = [_recovered(kept, [])]
    apply_holdings(site.db, site.vault, SITE, Holdings.model_validate({"last_seq": 0, "people": people}))  # fmt: skip
    assert site.fingers.enrol(kept, POSITION, _image(fingerprints, "102_1.tif"), 500, "petugas").accepted  # fmt: skip
    in_backup = _desk_record(site, kept)  # the backup holds this one; the registry holds it too

    people = [_recovered(lost, _fingers(prints["entry"]), 3),
              _recovered(kept, _fingers(in_backup, prints["entry"]))]  # fmt: skip
    holdings = Holdings.model_validate({"last_seq": 0, "people": people})
    report = apply_holdings(site.db, site.vault, SITE, holdings)
    assert (report.restored, report.updated) == ([lost], [kept])  # kept: a finger after the backup
    assert len(_finger_rows(site, lost)) == 1 and len(_finger_rows(site, kept)) == 2
    assert sorted(_alarmed(site, prints["same"])) == sorted([lost, kept])

    again = apply_holdings(site.db, site.vault, SITE, holdings)  # recovery run twice
    assert (again.restored, again.updated) == ([], [])
    assert (len(_finger_rows(site, lost)), len(_finger_rows(site, kept))) == (1, 2)


def test_the_registry_hands_back_each_persons_fingers_as_transfers_carry_them(
    tmp_path: Any,
    prints: dict[str, Any],  # noqa: F811
) -> None:
    from psycopg.types.json import Jsonb

    from registry.db_sqlite import SqliteDatabase
    from registry.recovery import holdings

    database = SqliteDatabase(f"sqlite:///{tmp_path / 'r.db'}")
    database.migrate()
    held, erased = uuid.uuid4(), uuid.uuid4()
    with database.transaction() as tx:
        tx.execute("INSERT INTO sites (id, name, region, public_key) VALUES (%s, 'Lapas A',"
                   " 'Jawa Barat', 'key-a')", (SITE,))  # fmt: skip
        for identity, status in ((held, "active"), (erased, "erased")):
            tx.execute(
                "INSERT INTO national_identities (id, site_id, role, status, record)"
                " VALUES (%s, %s, 'inmate', %s, %s)",
                (identity, SITE, status, Jsonb(record(str(identity), "Dedi", origin=SITE))),
            )
            tx.execute(
                "INSERT INTO national_fingers (site_id, site_seq, identity_id, position,"
                " impression, extractor, iso_record, quality) VALUES (%s, %s, %s, %s, 1,"
                " 'nbis-mindtct', %s, 60)",
                (SITE, 1 if identity == held else 2, identity, POSITION, prints["entry"]),
            )
    with database.transaction() as tx:
        answer = holdings(tx, SITE, None, 10)
    fingers = {p["identity"]["id"]: p["fingers"] for p in answer["people"]}
    assert fingers[str(erased)] == []
    [finger] = fingers[str(held)]
    assert finger == _fingers(prints["entry"])[0]
    assert Holdings.model_validate(answer).people  # the site's model takes the page as sent

"""A national watchlist entry's fingers at a site (site_sync/apply.py, site_sync/pulled_fingers.py;
issue 12): a real site database, finger index and fused search, real FVC2002 prints through NBIS,
the registry faked at the HTTP seam (tests/unit/test_agent.py's harness).

Stored where the gate's banned-visitor check reads them, found by another impression of the same
finger (the face absent: the finger alone names the person), applied once however often the change
comes, erased when the entry is removed; a site's ban keeps its round trip, fingers included.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from edge import wiring
from edge.site import Site
from enrollment.fused import FingerProbe
from enrollment.fused_search import FusedSearchResult, rule_for
from models.fingerprint import iso19794, nbis
from site_sync.agent import SiteAgent
from site_sync.pulled import PulledChangeInvalid
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
    unit_vectors,
    with_templates,
)

POSITION = 2  # the right index, as the desk and the gate tests present it


def _image(fingerprints: Path, name: str) -> np.ndarray:
    grey = Image.open(fingerprints / "fvc2002-db1_b" / name).convert("L")
    return np.asarray(grey, dtype=np.uint8)


@pytest.fixture(scope="module")
def prints(fingerprints: Path, nbis_library: Path) -> dict[str, Any]:
    """The entry's ISO records (finger 101, impression 1; finger 102 for the replayed extra), and
    the prints presented at the gate: 101's second impression and a stranger's finger."""
    entry = nbis.extract(_image(fingerprints, "101_1.tif"), 500)
    other = nbis.extract(_image(fingerprints, "102_1.tif"), 500)
    return {
        "entry": iso19794.encode([(POSITION, entry)]),
        "other": iso19794.encode([(POSITION, other)]),
        "same": _image(fingerprints, "101_2.tif"),
        "stranger": _image(fingerprints, "106_8.tif"),
    }


def _fingers(*records: bytes) -> list[dict[str, Any]]:
    """As the registry sends them (registry/transfers.fingers_payload)."""
    return [{"position": POSITION, "impression": i + 1, "extractor": "nbis-mindtct", "quality": 60,
             "iso_record_b64": base64.b64encode(r).decode()} for i, r in enumerate(records)]  # fmt: skip


def _entry(identity_id: str, faces: int, fingers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:  # fmt: skip
    body = with_templates(record(identity_id, "Buronan", "visitor", origin=extra.pop("origin", "registry")),
                          unit_vectors(faces, 61))  # fmt: skip
    return {**body, "reason": "melarikan diri", "fingers": fingers, **extra}


def _banned_check(at: Site, finger: np.ndarray) -> FusedSearchResult:
    """The gate's banned-visitor check on a finger with no face (edge/gate/steps._fused)."""
    at._fusion = (
        at.finger_tail(),
        wiring.fusion_model(at.settings, PACK, tail=at.finger_tail()),
    )  # the seam: no face engine here
    probe = FingerProbe(finger, 500, POSITION)
    return at.fused_search.search(None, probe, ("visitor",), ("banned",), None, None, 0.5,
                                    "banned_visitor")  # fmt: skip


def _named(at: Site, finger: np.ndarray) -> list[str]:
    return [p.identity_id for p in _banned_check(at, finger).matches(rule_for("banned_visitor"))]


def _finger_rows(at: Site, identity_id: str) -> list[tuple[Any, ...]]:
    with at.db.reading() as tx:
        return tx.execute(
            "SELECT f.sha256, f.data, t.position, t.minutiae FROM finger_templates t"
            " JOIN finger_images f ON f.id = t.image_id WHERE t.identity_id = ? ORDER BY t.id",
            (identity_id,),
        ).fetchall()


def test_a_finger_only_entry_is_stored_named_by_the_finger_alone_once_and_erased_when_removed(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
    prints: dict[str, Any],
) -> None:
    assert _named(site, prints["same"]) == []
    feed(registry, ("watchlist.added", _entry("w-1", 0, _fingers(prints["entry"]))))
    assert agent.pull_pending() == 1
    assert get(site, "w-1").status == "banned"
    [(digest, data, position, minutiae)] = _finger_rows(site, "w-1")
    assert digest == hashlib.sha256(prints["entry"]).hexdigest() and data is None  # no image here
    assert (position, minutiae) == (POSITION, iso19794.decode(prints["entry"])[0][1].count)

    result = _banned_check(site, prints["same"])
    [named] = result.matches(rule_for("banned_visitor"))
    assert (named.identity_id, named.used) == ("w-1", ("finger",))
    assert named.finger_score is not None and named.finger_threshold is not None
    assert named.finger_score >= named.finger_threshold
    assert _named(site, prints["stranger"]) == []

    again = _entry("w-1", 0, _fingers(prints["entry"], prints["other"]))
    feed(registry, ("watchlist.added", again))  # sent again with one more finger
    assert agent.pull_pending() == 1
    assert len(_finger_rows(site, "w-1")) == 2  # the one held is not stored twice

    feed(registry, ("watchlist.removed", {"identity_id": "w-1", "reason": "dicabut"}))
    assert agent.pull_pending() == 1
    assert (get(site, "w-1").status, _finger_rows(site, "w-1")) == ("erased", [])
    assert _named(site, prints["same"]) == []


def test_an_entry_with_a_broken_finger_record_refuses_the_whole_page(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
    prints: dict[str, Any],
) -> None:
    broken = _fingers(prints["entry"]) + _fingers(b"FMR\0 not a record")
    feed(registry, ("watchlist.added", _entry("w-2", 1, broken)))
    with pytest.raises(PulledChangeInvalid):
        agent.pull_pending()
    with site.db.reading() as tx:
        assert tx.execute("SELECT COUNT(*) FROM identities WHERE id = 'w-2'").fetchone()[0] == 0
        assert tx.execute("SELECT COUNT(*) FROM finger_templates").fetchone()[0] == 0


def test_another_sites_ban_brings_its_fingers_takes_them_when_lifted_and_back_when_banned_anew(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
    prints: dict[str, Any],
) -> None:
    ban = _entry("v-7", 2, _fingers(prints["entry"]), origin="UPT-B", banned_by_site="UPT-B")
    lifted = {"identity_id": "v-7", "reason": "larangan dicabut", "banned_by_site": "UPT-B"}
    feed(registry, ("watchlist.added", ban))
    assert agent.pull_pending() == 1
    assert (len(_finger_rows(site, "v-7")), _named(site, prints["same"])) == (1, ["v-7"])
    feed(registry, ("watchlist.removed", lifted))
    assert agent.pull_pending() == 1
    assert (get(site, "v-7").status, _finger_rows(site, "v-7")) == ("erased", [])
    feed(registry, ("watchlist.added", ban))
    assert agent.pull_pending() == 1
    assert (get(site, "v-7").status, len(_finger_rows(site, "v-7"))) == ("banned", 1)
    assert _named(site, prints["same"]) == ["v-7"]
    feed(registry, ("watchlist.added", _entry("w-3", 0, _fingers(prints["other"]))))
    assert agent.pull_pending() == 1
    assert _banned_check(site, prints["same"]).searched == 2  # v-7 by face, w-3 by finger alone

    ours = _entry("v-8", 1, _fingers(prints["other"]), origin=SITE, banned_by_site=SITE)
    feed(registry, ("watchlist.added", ours))  # this site's own ban, back from the registry
    assert agent.pull_pending() == 1
    assert _finger_rows(site, "v-8") == []  # skipped: the site holds its own record

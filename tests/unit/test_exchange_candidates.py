"""A received transaction's national search (registry/exchange_search.py): what of it can be
searched (prints alone suffice, without loading the face models), and its candidates: one per
national identity whichever modality found them, in an order an adjudicator reads, kept in
exchange_imports without names, as older face-only rows were (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

from enrollment.exchange.imports import NoUsableFace
from enrollment.exchange.transaction import PersonText, Transaction
from enrollment.exchange.type9 import MinutiaeView
from models.engine import FaceEngine
from models.fingerprint.minutiae import MinutiaeTemplate
from registry.exchange import stored
from registry.exchange_search import merged, received_probes
from tests.unit.test_finger_index import _finger


def face(identity_id: str, score: float) -> dict[str, object]:
    return {"identity_id": identity_id, "full_name": f"Nama {identity_id}", "site_id": "UPT-1",
            "score": score, "threshold": 0.6}  # fmt: skip


def finger(identity_id: str, score: float, position: int) -> dict[str, object]:
    return {"identity_id": identity_id, "full_name": f"Nama {identity_id}", "site_id": "UPT-2",
            "score": score, "threshold": 0.12, "position": position, "view_position": 2}  # fmt: skip


def test_a_person_found_by_both_is_one_candidate_named_first_with_both_evidences() -> None:
    found = merged([face("a", 0.8), face("b", 0.7)], [finger("b", 0.31, 7), finger("c", 0.25, 2)])
    assert [(c["identity_id"], c["found_by"]) for c in found] == [
        ("b", ["face", "finger"]), ("a", ["face"]), ("c", ["finger"]),
    ]  # fmt: skip
    both = found[0]
    assert both["score"] == 0.7 and both["full_name"] == "Nama b" and both["site_id"] == "UPT-1"
    assert both["face"] == {"score": 0.7, "threshold": 0.6}
    assert both["finger"] == {"score": 0.31, "threshold": 0.12, "position": 7, "view_position": 2}
    assert found[2]["score"] == 0.25 and "face" not in found[2] and "position" not in found[2]


def test_nothing_found_by_either_is_no_candidate() -> None:
    assert merged([], []) == []


def test_the_kept_finding_has_no_names_and_reads_old_face_only_rows() -> None:
    [kept] = [stored(c) for c in merged([], [finger("c", 0.25, 2)])]
    assert kept == {"identity_id": "c", "score": 0.25, "found_by": ["finger"],
                    "finger": {"score": 0.25, "threshold": 0.12, "position": 2, "view_position": 2}}  # fmt: skip
    assert stored({"identity_id": "d", "score": 0.9}) == {
        "identity_id": "d", "score": 0.9, "found_by": ["face"],
    }  # fmt: skip


def no_face_models() -> FaceEngine:
    raise AssertionError("a file without faces must not load the face models")


def test_a_file_of_prints_alone_loads_no_face_models_and_searches_its_usable_prints() -> None:
    rows = _finger(np.random.default_rng(5))
    views = [MinutiaeView(2, MinutiaeTemplate(400, 400, 500, rows, "received")),
             MinutiaeView(7, MinutiaeTemplate(400, 400, 500, np.zeros((0, 5)), "received"))]  # fmt: skip
    t = Transaction("POLDA", "DITJENPAS", PersonText("Terima"), minutiae=views)
    probes = received_probes(t, no_face_models, fingers_searched=True)
    assert len(probes.faces) == 0 and [position for position, _ in probes.prints] == [2]
    assert probes.prints[0][1].count > 0
    with pytest.raises(NoUsableFace) as refused:  # the registry's search by fingers is off
        received_probes(t, no_face_models, fingers_searched=False)
    assert refused.value.details["finger_views"] == 2
    with pytest.raises(NoUsableFace):  # only a print without minutiae: nothing to search
        received_probes(Transaction("POLDA", "DITJENPAS", PersonText("Terima"), minutiae=views[1:]),
                        no_face_models, fingers_searched=True)  # fmt: skip

"""The finger's 1:N tail calibrated on the site's own fingers (enrollment/finger_population.py):
the shipped tail until enough people have fingers, then the site's, refitted as fingers are added;
an operator's file always wins; merged and erased people are never impostors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from enrollment.db import Database
from enrollment.finger_population import SiteFingerTail
from enrollment.fingers import FingerService
from enrollment.vault import PlainVault, aad_for
from models.calibration import SHIPPED_CALIBRATIONS
from models.fingerprint import iso19794, mcc
from models.fingerprint.identify import fmr_for_fpir
from models.fingerprint.mcc_batch import Packed
from models.fingerprint.minutiae import MinutiaeTemplate
from models.fingerprint.tail import FILE_NAME, FingerTail, population_scores
from tests.unit.test_finger_index import _finger

SHIPPED = FingerTail.load(SHIPPED_CALIBRATIONS / f"{FILE_NAME}.json")
IMPRESSIONS = 3


def _impression(rows: np.ndarray, rng: np.random.Generator) -> MinutiaeTemplate:
    seen = rows + np.column_stack([rng.normal(0, 1.5, (len(rows), 2)), np.zeros((len(rows), 3))])
    return MinutiaeTemplate(400, 400, 500, seen, "test")


class Site:
    def __init__(self, path: Path, source: str = "shipped", min_people: int = 6) -> None:
        self.db, self.vault = Database(path), PlainVault()
        self.fingers = FingerService(
            self.db, self.vault, calibration=lambda: None,  # type: ignore[arg-type,return-value]
            tail=lambda: self.population.current(),  # noqa: PLW0108 (made just below)
        )  # fmt: skip
        self.rng = np.random.default_rng(11)
        self.people = 0
        self.population = SiteFingerTail(
            self.db, self.fingers, lambda: (SHIPPED, source), "UPT-T", min_people,
            max_comparisons=400, refresh_changes=6, refresh_share=0.1,
        )  # fmt: skip

    def enrol(
        self, people: int, positions: tuple[int, ...] = (2, 7), status: str = "active"
    ) -> None:
        """People with `positions` fingers of IMPRESSIONS impressions each, as enrolment stores them."""
        for _ in range(people):
            self.people += 1
            person = f"p{self.people}"
            with self.db.transaction() as tx:
                tx.execute(
                    "INSERT INTO identities (id, role, full_name, origin_site, created_at,"
                    " updated_at) VALUES (?, 'inmate', ?, 'UPT-T', 'now', 'now')",
                    (person, person),
                )
                for position in positions:
                    finger = _finger(self.rng)
                    for number in range(1, IMPRESSIONS + 1):
                        self._store(tx, person, position, number, _impression(finger, self.rng))
                if status != "active":
                    merged = "'p1'" if status == "merged" else "NULL"
                    tx.execute(
                        f"UPDATE identities SET status = ?, merged_into = {merged} WHERE id = ?",
                        (status, person),
                    )
        self.fingers.refresh_index()

    def _store(self, tx: object, person: str, position: int, number: int,
               template: MinutiaeTemplate, extractor: str | None = None) -> None:  # fmt: skip
        record = iso19794.encode([(position, template)])
        image = tx.execute(  # type: ignore[attr-defined]
            "INSERT INTO finger_images (identity_id, position, impression, sha256, width, height,"
            " resolution_ppi, captured_at) VALUES (?, ?, ?, 'x', 400, 400, 500, 'now')",
            (person, position, number),
        ).lastrowid
        tx.execute(  # type: ignore[attr-defined]
            "INSERT INTO finger_templates (image_id, identity_id, position, extractor, iso_record,"
            " minutiae, quality, created_at) VALUES (?, ?, ?, ?, ?, ?, 50, 'now')",
            (image, person, position, extractor or self.fingers.extractor.label,
             self.vault.seal(record, aad_for("finger_templates", "iso_record", person)),
             template.count),
        )  # fmt: skip


def test_the_shipped_tail_serves_until_enough_people_have_fingers(tmp_path: Path) -> None:
    site = Site(tmp_path / "site.db")
    site.enrol(5)
    state = site.population.refresh_now()
    assert (state.tail, state.source, state.people) == (SHIPPED, "shipped", 5)
    site.enrol(1)
    state = site.population.refresh_now()
    assert state.source == "site" and state.people == 6 and state.tail is not SHIPPED
    assert state.tail is not None and "site UPT-T: 6 people" in state.tail.dataset
    assert state.report()["calibration"] == "site"
    # every finger probes (12 of them), each against up to 400 // 12 = 33 of the others' 15
    # same-position impressions: all 15 here
    assert state.tail.tail.n == 12 * 5 * IMPRESSIONS
    assert len(state.tail.genuine) == 12 * (IMPRESSIONS - 1)
    threshold = site.fingers.fpir_threshold(0.01, 36)[0]  # the service reads the site's tail
    assert threshold == state.tail.threshold_at_fmr(fmr_for_fpir(0.01, 36))
    assert threshold != SHIPPED.threshold_at_fmr(fmr_for_fpir(0.01, 36))


def test_a_new_tail_is_fitted_in_the_background_as_fingers_are_added(tmp_path: Path) -> None:
    site = Site(tmp_path / "site.db")
    site.enrol(6)
    first = site.population.state()  # never fitted: starts the fit
    site.population.wait(30)
    fitted = site.population.state()
    assert first.source == "shipped" and fitted.source == "site" and fitted.people == 6
    site.enrol(1)  # 6 more templates of 36: the step is 6
    assert site.population.state() is fitted  # decisions never wait: still the previous one
    site.population.wait(30)
    assert site.population.state().people == 7


def test_templates_are_found_by_the_label_enrolment_stores_and_another_extractors_left_out(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path / "site.db")
    site.enrol(6)
    with site.db.transaction() as tx:  # a re-extraction under way: one finger by another one
        site._store(tx, "p1", 2, 9, _impression(_finger(site.rng), site.rng), "leader (other)")
    site.fingers.refresh_index()
    enrolled = site.population.enrolled(site.fingers.held())
    assert site.fingers.extractor.label != site.fingers.extractor.name  # what rows carry
    assert len(enrolled) == 12 and all(len(v) == IMPRESSIONS for v in enrolled.values())
    assert not site.fingers._cache  # read as the index holds them: nothing decoded


def test_writes_that_keep_the_size_still_bring_a_refit(tmp_path: Path) -> None:
    site = Site(tmp_path / "site.db")
    site.enrol(6)
    site.population.refresh_now()
    fitted = site.population.state()
    with site.db.transaction() as tx:  # a re-extraction rewrites rows in place
        tx.execute("UPDATE finger_templates SET quality = 60")
    site.fingers.refresh_index()
    assert site.population.state() is fitted  # decisions never wait
    site.population.wait(30)
    assert site.population.state() is not fitted


def test_a_damaged_tail_file_is_a_503_that_says_so_every_time(tmp_path: Path) -> None:
    from enrollment.finger_population import FingerTailUnreadable

    calls = []

    def damaged() -> tuple[FingerTail | None, str]:
        calls.append(1)
        raise ValueError("invalid finger tail file x.json: format None")

    site = Site(tmp_path / "site.db")
    site.population = SiteFingerTail(site.db, site.fingers, damaged)
    for _ in range(2):
        with pytest.raises(FingerTailUnreadable) as caught:
            site.population.current()
        assert caught.value.status == 503 and "x.json" in caught.value.details["reason"]
    assert len(calls) == 1  # read once


def test_an_operators_tail_file_is_never_replaced(tmp_path: Path) -> None:
    site = Site(tmp_path / "site.db", source="file")
    site.enrol(8)
    state = site.population.refresh_now()
    assert (state.tail, state.source, state.people) == (SHIPPED, "file", 8)
    site.population.state()
    assert site.population.worker.runs == 0  # nothing to fit


@pytest.mark.parametrize("status", ["merged", "erased"])
def test_merged_and_erased_people_are_not_impostors(tmp_path: Path, status: str) -> None:
    site = Site(tmp_path / "site.db")
    site.enrol(6)
    site.enrol(2, status=status)
    enrolled = site.population.enrolled(site.fingers.held())
    assert {person for person, _ in enrolled} == {f"p{k}" for k in range(1, 7)}
    assert site.population.refresh_now().people == 6


def _people(count: int, seed: int) -> dict[tuple[str, int], list[mcc.MinutiaeWithCylinders]]:
    """`count` synthetic people, fingers at positions 2 and 7, IMPRESSIONS impressions each."""
    rng = np.random.default_rng(seed)
    return {
        (f"p{k}", position): [
            mcc.with_cylinders(_impression(rows, rng)) for _ in range(IMPRESSIONS)
        ]
        for k in range(count)
        for position, rows in ((2, _finger(rng)), (7, _finger(rng)))
    }


def test_impostors_share_a_position_and_the_budget_is_kept() -> None:
    enrolled = _people(8, seed=5)
    impostor, genuine = population_scores(enrolled, max_comparisons=10_000)
    assert len(impostor) == 16 * 7 * IMPRESSIONS  # each finger against the other 7 at its position
    assert len(genuine) == 16 * (IMPRESSIONS - 1)
    assert max(impostor) < min(genuine)  # different synthetic fingers against the same one
    few, _ = population_scores(enrolled, max_comparisons=80)  # 5 a finger
    assert len(few) == 16 * 5
    only_two = {k: v for k, v in enrolled.items() if k[1] == 2 and k[0] in ("p0", "p1")}
    assert len(population_scores(only_two, 100)[0]) == 2 * IMPRESSIONS


def test_every_fused_decision_names_the_finger_calibration_it_read() -> None:
    from edge import wiring
    from edge.settings import Settings
    from enrollment.fused_search import decide_fused, finger_calibration_of
    from models.fingerprint.extractors import NBIS

    site_tail = FingerTail(SHIPPED.tail, SHIPPED.body, (), "site UPT-T: 60 people's fingers", 120)
    model = wiring.fusion_model(Settings(), "open-yunet-dlib", NBIS, tail=site_tail)
    assert finger_calibration_of(model) == site_tail.dataset
    shipped = wiring.fusion_model(Settings(), "open-yunet-dlib", NBIS)
    assert "fvc" in finger_calibration_of(shipped).lower()  # the shipped tail's dataset
    result = decide_fused(model, "identify", 0.01, 10, (0.9, lambda s: 1.0), ["p"],
                          lambda p: None, lambda p: (0.01, 3), None)  # fmt: skip
    assert result.evidence("fused")["finger_calibration"] == site_tail.dataset


def test_packed_impressions_score_as_an_index_holds_them_and_any_position_draws_from_all() -> None:
    """The registry's national fingers: both sides as its index packs them, impostors at any
    position (its search compares every finger of every other person)."""
    enrolled = _people(5, seed=6)
    packed = {k: [Packed.of(t.cylinders) for t in prints] for k, prints in enrolled.items()}
    full, full_genuine = population_scores(enrolled, 10_000)
    held, held_genuine = population_scores(packed, 10_000)
    assert np.allclose(held, full, atol=5e-3) and np.allclose(held_genuine, full_genuine, atol=5e-2)
    anywhere, _ = population_scores(packed, 10_000, any_position=True)
    assert len(anywhere) == 10 * 4 * 2 * IMPRESSIONS  # each finger against the other 4 people's 2
    assert max(anywhere) < min(held_genuine)


def test_a_large_site_is_sampled_by_whole_people_within_the_probe_budget() -> None:
    from models.fingerprint.tail import sample_people

    enrolled = {(f"p{k}", position): [] for k in range(300) for position in (2, 7)}
    chosen = sample_people(enrolled, probes=21)  # type: ignore[arg-type]
    people = {person for person, _ in chosen}
    assert len(chosen) == 22 and len(people) == 11  # whole people: both fingers of each
    assert chosen == sample_people(enrolled, probes=21)  # type: ignore[arg-type]  # seeded
    assert len(sample_people(enrolled, probes=10_000)) == 600  # type: ignore[arg-type]  # all

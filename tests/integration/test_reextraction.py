"""`gerbang finger reextract`'s use case (enrollment/reextraction.py) on a real site database with
real FVC2002 impressions through NBIS: every template with its image is made again by the
configured extractor, one transaction each, with an outbox change the registry applies; a failure
keeps the old record; a second run has nothing to do; the 1:N index and the template cache follow
the change in place. The second extractor here is NBIS under another name (LEADER itself is tested
in tests/model); what is checked is the bookkeeping, not the minutiae."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from enrollment.db import Database
from enrollment.fingers import FingerService
from enrollment.reextraction import census, reextract
from enrollment.vault import PlainVault, open_payload
from models.fingerprint import iso19794, mcc, nbis
from models.fingerprint.extractors import NBIS, FingerExtractor
from models.fingerprint.minutiae import MinutiaeTemplate

pytestmark = pytest.mark.model

FINGER = "fvc2002-db1_b/102_{}.tif"


def _grey(path: Path) -> npt.NDArray[np.uint8]:
    return np.asarray(Image.open(path).convert("L"), dtype=np.uint8)


def _other(refuse: set[int]) -> FingerExtractor:
    """NBIS under another name, its minutiae mirrored left to right (so its records and what they
    match differ: MCC is not mirror-invariant), refusing the images whose pixel sum is in
    `refuse`."""

    def extract(image: npt.NDArray[np.uint8], ppi: int) -> MinutiaeTemplate:
        if int(image.sum()) in refuse:
            raise nbis.FingerprintImageInvalid(reason="too_few_minutiae", minutiae=3)
        template = nbis.extract(image, ppi)
        rows = template.minutiae.copy()
        rows[:, 0] = template.width - 1 - rows[:, 0]
        rows[:, 2] = np.mod(np.pi - rows[:, 2], 2 * np.pi)
        return dataclasses.replace(template, minutiae=rows, extractor="other 1.0")

    return FingerExtractor("other", "other 1.0", "mcc", extract)


@pytest.fixture
def site(tmp_path: Path, fingerprints: Path, nbis_library: Path) -> tuple[Database, FingerService]:
    db = Database(tmp_path / "site.db")
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO identities (id, role, full_name, origin_site, created_at, updated_at)"
            " VALUES ('ana', 'inmate', 'Ana', 'UPT-T', 'now', 'now')"
        )
    fingers = FingerService(db, PlainVault(), calibration=lambda: None)  # type: ignore[arg-type,return-value]
    for n in (1, 2, 3):
        feedback = fingers.enrol("ana", 2, _grey(fingerprints / FINGER.format(n)), 500, "desk")
        assert feedback.accepted
    return db, fingers


def _changes(db: Database, kind: str) -> list[dict[str, object]]:
    with db.reading() as tx:
        rows = tx.execute(
            "SELECT entity_id, payload FROM outbox WHERE kind = ? ORDER BY seq", (kind,)
        ).fetchall()
    return [open_payload(PlainVault(), kind, r[0], json.loads(r[1])) for r in rows]


def test_every_template_is_made_again_and_sent_and_a_failure_keeps_its_old_record(
    site: tuple[Database, FingerService], fingerprints: Path
) -> None:
    db, fingers = site
    vault = PlainVault()
    before = {t.extractor for _, t in fingers.templates("ana")}
    assert fingers.refresh_index() == 3
    refused = int(_grey(fingerprints / FINGER.format(2)).sum())
    other = _other({refused})
    assert census(db, other) == dataclasses.replace(census(db, other), current=0, other=3)

    report = reextract(db, vault, other, "admin")
    assert report.replaced == 2 and list(report.failed.values()) == ["fingerprint_image_invalid"]
    after = census(db, other)
    assert (after.current, after.other, after.without_image) == (2, 1, 0)

    sent = _changes(db, "finger.reextracted")
    assert [c["impression"] for c in sent] == [1, 3] and {c["extractor"] for c in sent} == {
        "other 1.0"
    }
    record = base64.b64decode(str(sent[0]["iso_record_b64"]))
    stored = {t.count for _, t in fingers.templates("ana")}
    assert iso19794.decode(record)[0][1].count in stored

    # The cache and the index follow the rows changed in place: the mirrored minutiae are what a
    # probe of the new extractor now meets, and the refused impression stays as it was.
    templates = [t for _, t in fingers.templates("ana")]
    first = other.extract(_grey(fingerprints / FINGER.format(1)), 500)
    moved = iso19794.decode(iso19794.encode([(2, first)]))[0][1]
    assert np.array_equal(templates[0].minutiae[:, :2], moved.minutiae[:, :2])
    kept = iso19794.decode(
        iso19794.encode([(2, NBIS.extract(_grey(fingerprints / FINGER.format(2)), 500))])
    )[0][1]
    assert np.array_equal(templates[1].minutiae[:, :2], kept.minutiae[:, :2])
    assert fingers.refresh_index() == 3
    probe = mcc.with_cylinders(first)
    [hit], searched = fingers.search_probe(probe, 2)
    assert hit.person == "ana" and searched == 3
    assert hit.score > 0.9  # its own record: the old NBIS ones score far lower with a mirror
    assert before == {"iso19794-2:2005 record"}  # decoded records do not name their extractor

    # Run again: only the refused one is tried, and with the refusal lifted it is done.
    assert reextract(db, vault, _other(set()), "admin").replaced == 1
    assert census(db, other).done and reextract(db, vault, other, "admin").replaced == 0
    assert len(_changes(db, "finger.reextracted")) == 3


def test_templates_pulled_without_an_image_are_counted_not_touched(
    site: tuple[Database, FingerService],
) -> None:
    db, _ = site
    with db.transaction() as tx:
        tx.execute("UPDATE finger_images SET data = NULL WHERE impression = 3")
    found = census(db, _other(set()))
    assert (found.other, found.without_image) == (2, 1)
    assert reextract(db, PlainVault(), _other(set()), "admin", limit=1).replaced == 1
    assert census(db, _other(set())).other == 1


def test_the_command_moves_a_site_to_leader_and_a_second_run_has_nothing_to_do(
    tmp_path: Path, fingerprints: Path, nbis_library: Path, model_dir: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`gerbang finger reextract` as the README shows it, on a site enrolled with NBIS."""
    from console.main import main
    from edge.settings import Settings
    from enrollment.keyring import SealedVault, resolve_kek
    from models.fingerprint.leader import EXTRACTOR

    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EDGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("EDGE_MATCH__FINGER_EXTRACTOR", "nbis")
    settings = Settings()
    db = Database(settings.database_path)
    vault = SealedVault(db, resolve_kek(None, None, settings.data_dir))
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO identities (id, role, full_name, origin_site, created_at, updated_at)"
            " VALUES ('ana', 'inmate', 'Ana', 'UPT-T', 'now', 'now')"
        )
    fingers = FingerService(db, vault, calibration=lambda: None)  # type: ignore[arg-type,return-value]
    for n in (1, 2):
        assert fingers.enrol("ana", 2, _grey(fingerprints / FINGER.format(n)), 500, "desk").accepted

    monkeypatch.setenv("EDGE_MATCH__FINGER_EXTRACTOR", "leader")
    assert main(["finger", "reextract", "--officer", "admin"]) == 0
    out = capsys.readouterr().out
    assert "extractor leader: 2 re-extracted, 0 failed, 0 left; 2 templates by leader" in out
    with db.reading() as tx:
        assert {r[0] for r in tx.execute("SELECT extractor FROM finger_templates")} == {EXTRACTOR}
    assert main(["finger", "reextract"]) == 0
    assert "0 re-extracted, 0 failed, 0 left" in capsys.readouterr().out

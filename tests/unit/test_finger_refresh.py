"""The fingerprint 1:N index follows finger_templates through the change counter (migration 026):
one row read when nothing changed, and a deleted newest row whose id the next insert reuses is
re-indexed, not mistaken for the old one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from enrollment.db import Database
from enrollment.fingers import FingerService
from enrollment.vault import PlainVault, aad_for
from models.fingerprint import iso19794, mcc
from models.fingerprint.minutiae import MinutiaeTemplate
from tests.unit.test_finger_index import _finger


def _template(rows: np.ndarray, rng: np.random.Generator) -> MinutiaeTemplate:
    """An impression of these minutiae (integer pixels and 2-degree angles survive ISO)."""
    seen = rows + np.column_stack([rng.normal(0, 1.5, (len(rows), 2)), np.zeros((len(rows), 3))])
    return MinutiaeTemplate(400, 400, 500, seen, "test")


class Site:
    def __init__(self, path: Path) -> None:
        self.db, self.vault = Database(path), PlainVault()
        self.fingers = FingerService(self.db, self.vault, calibration=lambda: None)  # type: ignore[arg-type,return-value]
        with self.db.transaction() as tx:
            tx.execute(
                "INSERT INTO identities (id, role, full_name, origin_site, created_at, updated_at)"
                " VALUES ('ana', 'inmate', 'Ana', 'UPT-T', 'now', 'now')"
            )

    def store(self, template: MinutiaeTemplate) -> int:
        """A template row as enrolment writes it (own image row); its id."""
        record = iso19794.encode([(2, template)])
        with self.db.transaction() as tx:
            impression = tx.execute("SELECT COUNT(*) + 1 FROM finger_images").fetchone()[0]
            image = tx.execute(
                "INSERT INTO finger_images (identity_id, position, impression, sha256, width, height,"
                " resolution_ppi, captured_at) VALUES ('ana', 2, ?, 'x', 400, 400, 500, 'now')",
                (impression,),
            ).lastrowid
            return int(tx.execute(
                "INSERT INTO finger_templates (image_id, identity_id, position, extractor, iso_record,"
                " minutiae, quality, created_at) VALUES (?, 'ana', 2, 'test', ?, ?, 50, 'now')",
                (image, self.vault.seal(record, aad_for("finger_templates", "iso_record", "ana")),
                 template.count),
            ).lastrowid)  # fmt: skip


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path / "site.db")


def _statements(db: Database) -> list[str]:
    seen: list[str] = []
    db._connection.set_trace_callback(seen.append)
    return seen


def test_an_unchanged_table_costs_one_row_read(site: Site) -> None:
    rng = np.random.default_rng(3)
    for _ in range(3):
        site.store(_template(_finger(rng), rng))
    assert site.fingers.refresh_index() == 3
    seen = _statements(site.db)
    assert site.fingers.refresh_index() == 3
    assert [s for s in seen if "finger_templates" in s] == []
    assert sum("finger_changes" in s for s in seen) == 1


def test_a_deleted_newest_row_whose_id_returns_is_reindexed(site: Site) -> None:
    rng = np.random.default_rng(4)
    first, old, new = _finger(rng), _finger(rng), _finger(rng)
    site.store(_template(first, rng))
    newest = site.store(_template(old, rng))
    site.fingers.refresh_index()
    with site.db.transaction() as tx:
        tx.execute("DELETE FROM finger_templates WHERE id = ?", (newest,))
    assert site.store(_template(new, rng)) == newest  # SQLite gives the freed id back
    assert site.fingers.refresh_index() == 2
    probe = mcc.with_cylinders(_template(new, rng)).cylinders
    hit = site.fingers.index.search(probe)[0]
    assert hit.key == newest and hit.score > 0.5  # the new finger, not the deleted one's cylinders
    old_probe = mcc.with_cylinders(_template(old, rng)).cylinders
    assert all(h.score < 0.3 for h in site.fingers.index.search(old_probe))


def test_every_write_moves_the_counter(site: Site) -> None:
    def generation() -> int:
        with site.db.reading() as tx:
            return int(tx.execute("SELECT generation FROM finger_changes").fetchone()[0])

    rng = np.random.default_rng(5)
    before = generation()
    tid = site.store(_template(_finger(rng), rng))
    inserted = generation()
    with site.db.transaction() as tx:
        tx.execute("UPDATE finger_templates SET quality = 60 WHERE id = ?", (tid,))
    updated = generation()
    with site.db.transaction() as tx:
        tx.execute("DELETE FROM finger_templates WHERE id = ?", (tid,))
    assert before < inserted < updated < generation()
    with pytest.raises(sqlite3.IntegrityError), site.db.transaction() as tx:  # one counter row
        tx.execute("INSERT INTO finger_changes VALUES (2, 0)")

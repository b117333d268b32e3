"""Two registry replicas' national indexes on one database (the SQLite backend, in one process):
each follows the gallery feed, a template is searched only by a replica whose index holds it,
and applying the feed twice adds nothing. The same with two real processes on PostgreSQL:
tests/integration/test_registry_replicas.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from psycopg.types.json import Jsonb

from registry import gallery_feed
from registry.db import RegistryDatabase, open_database
from registry.gallery_follower import GalleryFollower
from registry.national import MatchPolicy, NationalGallery

PACK = "open-yunet-dlib"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[RegistryDatabase]:
    database = open_database(f"sqlite:///{tmp_path / 'registry.db'}")
    database.migrate()
    with database.transaction() as tx:
        tx.execute(
            "INSERT INTO sites (id, name, region, public_key) VALUES ('UPT-A', 'A', 'KW', 'k')"
        )
    yield database


def replica(db: RegistryDatabase) -> GalleryFollower:
    policy = MatchPolicy.for_pack(PACK, 1e-3, None)
    follower = GalleryFollower(db, NationalGallery(policy), poll_seconds=60)
    with follower.writing():  # the start: rebuild from the database
        pass
    return follower


def enrol(db: RegistryDatabase, vector: np.ndarray) -> tuple[str, int]:
    """What a batch commits through some replica: a person, a template, their feed row."""
    person = str(uuid.uuid4())
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO national_identities (id, site_id, origin_site, role, status, record)"
            " VALUES (%s, 'UPT-A', 'UPT-A', 'inmate', 'active', %s)",
            (person, Jsonb({"id": person})),
        )
        row = tx.execute(
            "INSERT INTO national_templates (site_id, identity_id, pack_id, vector) VALUES"
            " ('UPT-A', %s, %s, %s) RETURNING id",
            (person, PACK, vector.astype("<f4").tobytes()),
        ).fetchone()
        gallery_feed.record(tx, {person: [int(row["id"])]})
    return person, int(row["id"])


def unit(seed: int, near: np.ndarray | None = None) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    vector = near + 0.01 * vector if near is not None else vector
    return vector / np.linalg.norm(vector)


def unsearched(db: RegistryDatabase) -> int:
    return int(db.scalar("SELECT count(*) FROM national_templates WHERE searched_at IS NULL"))


def test_a_replica_follows_the_others_commits_and_searches_only_what_it_holds(
    db: RegistryDatabase,
) -> None:
    one, two = replica(db), replica(db)
    first = unit(1)
    a, _ = enrol(db, first)  # committed through replica 1
    b, _ = enrol(db, unit(2, near=first))  # the same face, committed through replica 2 at once
    with db.transaction() as tx:  # replica 2 searches before it has read the feed
        searched, opened = two.gallery.search_pending(tx)
    assert (searched, opened, unsearched(db)) == (0, [], 2)  # it holds neither: left for later

    two.follow()  # reads both rows, then searches both: they find each other
    assert len(two.gallery.index) == 2 and unsearched(db) == 0
    cases = db.scalar("SELECT count(*) FROM duplicate_cases WHERE state = 'open'")
    assert cases == 1

    one.follow()
    assert len(one.gallery.index) == 2 and one.cursor == two.cursor == 2
    one.cursor = 0  # the feed applied again (a rebuild starts from a cursor before its snapshot)
    one.follow()
    assert len(one.gallery.index) == 2
    assert {c.identity_id for c in one.gallery.index.search(first, 5)[0]} == {a, b}


def test_an_erasure_reaches_the_other_replica_through_the_feed(db: RegistryDatabase) -> None:
    one, two = replica(db), replica(db)
    person, _ = enrol(db, unit(3))
    one.follow(), two.follow()
    with db.transaction() as tx:  # erased through replica 1
        tx.execute("DELETE FROM national_templates WHERE identity_id = %s", (person,))
        tx.execute("UPDATE national_identities SET status = 'erased' WHERE id = %s", (person,))
        gallery_feed.record(tx, {person: []})
    two.follow()
    assert len(two.gallery.index) == 0

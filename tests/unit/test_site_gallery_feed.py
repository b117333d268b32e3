"""The site gallery following writes made by other processes (site_sync/follow.py): a second
connection to the same SQLite file stands for `gerbang import`, a restore or a separate sync
agent. After `follow()` the gallery equals the database, template by template."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from enrollment.db import Database
from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from enrollment.vault import PlainVault
from gallery_sync.gallery import GalleryIndex
from site_sync.follow import GalleryFeed, GalleryProjection
from site_sync.projection import build_gallery, check_gallery, stored_entries

PACK, DIM = "pack", 8
VAULT = PlainVault()


class Service:
    """The service's side: its own connection, gallery, projection and feed."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path)
        self.gallery: GalleryIndex | None = None
        self.projection = GalleryProjection(self.db, VAULT, lambda: self.gallery, lambda: PACK)
        self.rebuilds = 0
        self.feed = GalleryFeed(self.db, self.projection, self.rebuild)

    def load(self) -> None:
        cursor = self.feed.head()  # as Site.start: before the build
        self.gallery = build_gallery(self.db, VAULT, PACK, DIM)
        self.feed.loaded_at(cursor)

    def rebuild(self) -> int:
        self.rebuilds += 1
        assert self.gallery is not None
        self.gallery.rebuild(stored_entries(self.db, VAULT, PACK))
        return len(self.gallery)

    def agrees(self) -> bool:
        assert self.gallery is not None
        return check_gallery(self.db, VAULT, self.gallery, PACK).ok

    def held(self) -> dict[int, tuple[str, str, str]]:
        assert self.gallery is not None
        return self.gallery.snapshot()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gerbang.db"


@pytest.fixture
def service(path: Path) -> Iterator[Service]:
    started = Service(path)
    started.load()
    yield started
    started.db.close()


@pytest.fixture
def other(path: Path, service: Service) -> Iterator[Database]:
    """Another process's connection to the same file."""
    database = Database(path)
    yield database
    database.close()


def vectors(n: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def enrol(db: Database, name: str, captures: int, seed: int, role: str = "inmate") -> str:
    with db.transaction() as tx:
        repo = IdentityRepository(tx, VAULT)
        identity_id = repo.insert(IdentityDraft(role=role, full_name=name), "UPT-A")  # type: ignore[arg-type]
        for n, vector in enumerate(vectors(captures, seed)):
            image_id, digest = repo.add_image(identity_id, f"{name}{n}".encode(), "image/png", "t")
            repo.add_template(identity_id, image_id, digest, PACK, vector, 0.9, "t")
    return identity_id


def test_another_process_s_enrolment_release_and_erasure_reach_the_gallery(
    service: Service, other: Database
) -> None:
    andi = enrol(service.db, "Andi", 2, 1)
    service.projection.follow([andi])  # the service's own write, projected at once
    budi = enrol(other, "Budi", 3, 2)  # gerbang import
    rina = enrol(other, "Rina", 2, 3, role="visitor")
    assert budi not in {m[0] for m in service.held().values()}  # not before the feed is read
    assert service.feed.follow() == 2  # Budi and Rina; Andi's own write, read again, moves nothing
    assert service.agrees() and service.feed.follow() == 0

    with other.transaction() as tx:
        repo = IdentityRepository(tx, VAULT)
        repo.set_status(budi, "released")
        repo.erase_biometrics(rina)
    assert service.feed.follow() == 2
    assert service.agrees()
    assert {m[2] for m in service.held().values() if m[0] == budi} == {"released"}
    assert rina not in {m[0] for m in service.held().values()}


def test_a_write_landing_while_the_gallery_loads_is_applied_not_missed(path: Path) -> None:
    service = Service(path)
    cursor = service.feed.head()
    late = enrol(Database(path), "Late", 2, 4)  # between the cursor read and the build
    service.gallery = build_gallery(service.db, VAULT, PACK, DIM)
    service.feed.loaded_at(cursor)
    assert service.feed.follow() == 0  # already in the build: re-applying moves nothing
    assert service.agrees() and late in {m[0] for m in service.held().values()}


def test_a_template_id_given_again_moves_to_its_new_owner(
    service: Service, other: Database
) -> None:
    """SQLite gives a deleted newest row's id to the next insert: the gallery must not refuse
    the new template as a duplicate of the old one."""
    first = enrol(other, "Pertama", 2, 5)
    service.feed.follow()
    with other.transaction() as tx:
        repo = IdentityRepository(tx, VAULT)
        newest = max(repo.template_ids(first))
        repo.delete_templates([newest])
    second = enrol(other, "Kedua", 1, 6)
    with other.reading() as tx:
        assert newest in IdentityRepository(tx, VAULT).template_ids(second)
    service.feed.follow()
    assert service.agrees() and service.held()[newest][0] == second


def test_a_process_left_behind_by_pruning_rebuilds(service: Service, other: Database) -> None:
    for n in range(4):
        enrol(other, f"Orang {n}", 1, 10 + n)
    GalleryFeed(other, service.projection, service.rebuild).prune(keep=1)
    assert service.feed.follow() == 4  # the rebuilt gallery's size
    assert service.rebuilds == 1 and service.agrees()
    assert service.feed.cursor == service.feed.head() and service.feed.follow() == 0


def test_own_writes_and_the_feed_thread_together_end_equal_to_the_database(
    service: Service, other: Database
) -> None:
    """The service projecting its own enrolments while the feed thread runs, and another
    process writing meanwhile: no deadlock, no lost or doubled template."""
    stop = threading.Event()
    follower = threading.Thread(target=service.feed.run, args=(0.001, stop), daemon=True)
    follower.start()
    try:
        for n in range(15):
            own = enrol(service.db, f"Sendiri {n}", 2, 100 + n)
            service.projection.follow([own])
            enrol(other, f"Lain {n}", 1, 200 + n)
            if n % 5 == 4:
                with other.transaction() as tx:
                    IdentityRepository(tx, VAULT).set_status(own, "released")
    finally:
        stop.set()
        follower.join(30)
    assert not follower.is_alive()
    service.feed.follow()
    assert service.agrees() and len(service.held()) == 45


def test_a_record_that_cannot_be_projected_is_logged_and_the_others_follow(
    service: Service, other: Database, caplog: pytest.LogCaptureFixture
) -> None:
    broken = enrol(other, "Rusak", 1, 20)
    with other.transaction() as tx:  # a vector of the wrong length: the gallery refuses it
        tx.execute("UPDATE templates SET vector = ? WHERE identity_id = ?", (b"\0" * 12, broken))
    fine = enrol(other, "Baik", 2, 21)
    assert service.feed.follow() == 1
    held = {m[0] for m in service.held().values()}
    assert fine in held and broken not in held
    assert f"could not follow identity {broken}" in caplog.text
    assert service.feed.cursor == service.feed.head()  # not stuck on the bad row

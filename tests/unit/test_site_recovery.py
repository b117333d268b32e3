"""Dead-site recovery's rules on a real site database (the registry faked at its one call):
people restored or brought up to date, and the outbox moved past what the registry holds.
The whole journey with real processes is tests/integration/test_site_recovery.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge import sync_cli
from edge.settings import Settings
from edge.site import Site
from enrollment.audit import verify_chain
from gallery_sync.gallery import GalleryIndex
from gallery_sync.outbox import append_change
from gallery_sync.protocol import new_site_key
from site_sync.recovery import Holdings, apply_holdings, fetch_holdings
from site_sync.state import PUSHED, read_int, write
from tests.unit.test_agent import (
    DIM,
    PACK,
    SITE,
    enrol_local,
    get,
    record,
    unit_vectors,
    with_templates,
)


@pytest.fixture
def rebuilt(tmp_path: Path) -> Iterator[Site]:
    """A site database as a restored backup leaves it (the registry is faked at its one call)."""
    settings = Settings(data_dir=tmp_path, site_id=SITE, pack=PACK)
    new_site_key(sync_cli.key_path(settings))
    site = Site(settings)
    site.gallery_ = GalleryIndex(DIM)
    yield site
    site.close()


def person(identity_id: str, name: str, status: str = "active", version: int = 1) -> dict[str, Any]:
    body = with_templates(record(identity_id, name, origin=SITE), unit_vectors(2, 7))
    return {**body, "status": status, "version": version}


def outbox(held: Site, count: int, pushed: int) -> None:
    with held.db.transaction() as tx:
        for number in range(count):
            append_change(tx, "gate.event", f"e{number}", {"event_id": number})
        write(tx, PUSHED, pushed)


def sent_and_pushed(held: Site) -> tuple[list[tuple[int, bool]], int]:
    with held.db.reading() as tx:
        rows = tx.execute("SELECT seq, sent_at IS NOT NULL FROM outbox ORDER BY seq").fetchall()
        return [(int(seq), bool(sent)) for seq, sent in rows], read_int(tx, PUSHED)


def next_seq(held: Site) -> int:
    with held.db.transaction() as tx:
        return append_change(tx, "gate.event", "after", {"event_id": 99})


def test_a_person_the_backup_lacks_comes_back_with_templates_version_and_status(
    rebuilt: Site,
) -> None:
    missing = str(uuid.uuid4())
    holdings = Holdings.model_validate(
        {"last_seq": 0, "people": [person(missing, "Dewi", "released", 4)]}
    )
    report = apply_holdings(rebuilt.db, rebuilt.vault, SITE, holdings)
    assert report.restored == [missing]
    restored = get(rebuilt, missing)
    assert (restored.status, restored.version, restored.origin_site) == ("released", 4, SITE)
    with rebuilt.db.reading() as tx:
        assert (
            tx.execute(
                "SELECT count(*) FROM templates WHERE identity_id = ?", (missing,)
            ).fetchone()[0]
            == 2
        )
        assert verify_chain(tx) is None
        actions = [a for (a,) in tx.execute("SELECT action FROM audit_events ORDER BY seq")]
    assert actions[-2:] == ["recovery.identity_restored", "sync.recovered"]


def test_the_outbox_moves_past_the_registrys_seq_and_keeps_what_it_never_received(
    rebuilt: Site,
) -> None:
    outbox(rebuilt, 4, pushed=0)  # rows 1-4 in the backup; the registry took 1-2 after it
    report = apply_holdings(rebuilt.db, rebuilt.vault, SITE, Holdings(last_seq=2, people=[]))
    assert sent_and_pushed(rebuilt) == ([(1, True), (2, True), (3, False), (4, False)], 2)
    assert (report.marked_sent, report.outbox_next_seq) == (2, 5)
    assert next_seq(rebuilt) == 5


def test_a_registry_ahead_of_the_backup_moves_the_sequence_past_its_seq(rebuilt: Site) -> None:
    outbox(rebuilt, 3, pushed=3)  # the backup's rows were all pushed; the registry took 4-9 after
    report = apply_holdings(rebuilt.db, rebuilt.vault, SITE, Holdings(last_seq=9, people=[]))
    assert sent_and_pushed(rebuilt)[1] == 9
    assert report.outbox_next_seq == next_seq(rebuilt) == 10  # never a seq the registry holds


def test_a_person_the_backup_holds_takes_a_newer_erasure_and_ignores_an_older_record(
    rebuilt: Site,
) -> None:
    erased, kept = enrol_local(rebuilt, "Andi", seed=1), enrol_local(rebuilt, "Budi", seed=2)
    older = {**person(kept, "Budi renamed", "released", 1)}
    holdings = Holdings.model_validate(
        {"last_seq": 0, "people": [person(erased, "Andi", "erased", 5), older]}
    )
    report = apply_holdings(rebuilt.db, rebuilt.vault, SITE, holdings)
    assert report.updated == [erased]
    assert get(rebuilt, erased).status == "erased"
    assert (get(rebuilt, kept).status, get(rebuilt, kept).full_name) == ("active", "Budi")
    with rebuilt.db.reading() as tx:
        assert (
            tx.execute(
                "SELECT count(*) FROM templates WHERE identity_id = ?", (erased,)
            ).fetchone()[0]
            == 0
        )


class Pages:
    """The registry's recovery pages, two people a page."""

    def __init__(self, people: list[dict[str, Any]]) -> None:
        self.people, self.calls = people, []  # type: ignore[var-annotated]

    def holdings(self, after: str | None, limit: int) -> dict[str, Any]:
        self.calls.append(after)
        start = 0 if after is None else [p["identity"]["id"] for p in self.people].index(after) + 1
        page = self.people[start : start + 2]
        more = start + 2 < len(self.people)
        return {
            "last_seq": 7,
            "people": page,
            "next_after": page[-1]["identity"]["id"] if more else None,
        }


def test_every_page_is_fetched_before_anything_is_applied() -> None:
    people = [person(str(uuid.UUID(int=n + 1)), f"P{n}") for n in range(5)]
    pages = Pages(people)
    holdings = fetch_holdings(pages, page=2)
    assert [p.identity.id for p in holdings.people] == [p["identity"]["id"] for p in people]
    assert holdings.last_seq == 7 and len(pages.calls) == 3


def test_a_malformed_person_refuses_the_whole_recovery() -> None:
    bad = person(str(uuid.uuid4()), "X")
    bad["templates"][0]["vector_f32le_b64"] = "not base64!"
    with pytest.raises(ValueError):
        fetch_holdings(Pages([bad]))

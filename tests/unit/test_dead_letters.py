"""A poisoned change never halts a site: the agent sets aside the one change the registry refuses,
the rest of the outbox flows and pulls go on, and the alarm stays until an officer resolves it.

The registry here is test_agent's MockTransport fake, taught to refuse any batch that holds a
change marked as poison (with or without naming its seq, as a real registry may or may not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.main import main
from edge import sync_cli
from edge.settings import Settings
from edge.site import Site
from enrollment.audit import verify_chain
from gallery_sync.gallery import GalleryIndex
from gallery_sync.outbox import append_change
from gallery_sync.protocol import decode, new_site_key
from site_sync import dead_letters
from site_sync.agent import SiteAgent
from site_sync.state import PUSHED, read_int, summary
from site_sync.uplink import SyncRefused
from tests.unit.test_agent import DIM, PACK, SITE, FakeRegistry, _error, agent_of, backlog


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path, site_id=SITE, pack=PACK)
    new_site_key(sync_cli.key_path(settings))
    site = Site(settings)
    site.gallery_ = GalleryIndex(DIM)  # the seam: no face engine needed for sync
    yield site
    site.close()


class PoisonRefusingRegistry(FakeRegistry):
    """Refuses, 422, a batch holding a change whose payload has `poison` (naming it or not)."""

    def __init__(self, site_dir: Path, name_the_seq: bool = True) -> None:
        super().__init__(site_dir)
        self.name_the_seq = name_the_seq
        self.refused = 0

    def _push(self, request: httpx.Request) -> httpx.Response:
        batch = decode(request.content, request.headers["X-Gerbang-Signature"], self.public)
        poisoned = [c.seq for c in batch.changes if "poison" in c.payload]
        if poisoned:
            self.refused += 1
            details: dict[str, Any] = {"reason": "identity.updated: a NUL"}
            if self.name_the_seq:
                details["seq"] = poisoned[0]
            return _error(422, "sync_schema_invalid", details)
        return super()._push(request)


def poisoned_backlog(site: Any, count: int, poison_at: set[int]) -> None:
    with site.db.transaction() as tx:
        for n in range(1, count + 1):
            payload = {"n": n, "poison": "a\x00b"} if n in poison_at else {"n": n}
            append_change(tx, "gate.event", str(n), payload)


def agent_for(site: Any, registry: FakeRegistry, **options: Any) -> SiteAgent:
    return agent_of(site, registry, [], **options)


@pytest.mark.parametrize("name_the_seq", [True, False])
def test_the_refused_change_is_set_aside_and_everything_else_reaches_the_registry(
    site: Any, tmp_path: Path, name_the_seq: bool
) -> None:
    registry = PoisonRefusingRegistry(site.settings.data_dir, name_the_seq)
    registry.changes = [{"seq": 1, "kind": "site.notice", "payload": {"text": "hello"}}]
    poisoned_backlog(site, 10, {7})
    report = agent_for(site, registry, batch_size=10).run_once()

    assert report.pushed == 10 and report.push_problem is None
    assert sorted(registry.held) == list(range(1, 11))  # the seq stream stays contiguous
    assert registry.gets, "the pull went on"
    with site.db.reading() as tx:
        assert read_int(tx, PUSHED) == 10
    state = summary(site.db)
    assert [(d["seq"], d["code"], d["resolution"]) for d in state["dead_letters"]] == [
        (7, "sync_schema_invalid", None)
    ]
    # what travelled under seq 7 says what was withheld and why, never its content
    sent = [decode(body, sig, registry.public) for body, sig in registry.posts]
    placeholder = next(c for b in sent for c in b.changes if c.seq == 7)
    assert placeholder.kind == dead_letters.WITHHELD_KIND
    assert placeholder.payload == {"kind": "gate.event", "code": "sync_schema_invalid"}
    assert registry.refused <= (1 if name_the_seq else 5)  # halving: log2(10) + 1 at most


def test_a_change_heavier_than_any_change_may_be_is_set_aside_without_being_sent(
    site: Any,
) -> None:
    registry = FakeRegistry(site.settings.data_dir)
    details = {"note": "a" * (48 * 1024 * 1024)}  # the 48 MiB details of issue 13
    with site.db.transaction() as tx:
        append_change(tx, "gate.event", "w", {"n": 1})
        append_change(tx, "identity.updated", "x", {"fields": {"details": details}})
        append_change(tx, "gate.event", "y", {"n": 3})
    report = agent_for(site, registry).run_once()

    assert report.pushed == 3 and sorted(registry.held) == [1, 2, 3]
    assert all(len(body) < 64 * 1024 for body, _ in registry.attempts)  # never sent
    letter = summary(site.db)["dead_letters"][0]
    assert (letter["seq"], letter["code"]) == (2, "change_too_large")


def test_dropping_a_dead_letter_is_audited_and_clears_the_alarm_at_the_registry_too(
    site: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = PoisonRefusingRegistry(site.settings.data_dir)
    poisoned_backlog(site, 3, {2})
    agent = agent_for(site, registry)
    agent.run_once()
    monkeypatch.setenv("EDGE_DATA_DIR", str(site.settings.data_dir))
    monkeypatch.setenv("EDGE_SITE_ID", site.settings.site_id)

    assert main(["sync", "drop", "2", "--reason", "typed by old software", "--actor", "budi"]) == 0
    assert json.loads(capsys.readouterr().out)["resolution"] == "dropped"
    with pytest.raises(dead_letters.DeadLetterResolved):
        dead_letters.resolve(site.db, 2, "retried", "budi", "again")
    assert summary(site.db)["dead_letters"] == []
    agent.run_once()
    resolved = [
        c
        for body, sig in registry.posts
        for c in decode(body, sig, registry.public).changes
        if c.kind == dead_letters.RESOLVED_KIND
    ]
    assert [c.payload["withheld_seq"] for c in resolved] == [2]
    with site.db.reading() as tx:
        events = [r[0] for r in tx.execute("SELECT action FROM audit_events ORDER BY seq")]
        assert verify_chain(tx) is None
    assert {"sync.change_withheld", "sync.withheld_dropped"} <= set(events)


def test_retrying_sends_the_original_change_again_under_a_new_seq(site: Any) -> None:
    registry = PoisonRefusingRegistry(site.settings.data_dir)
    poisoned_backlog(site, 2, {1})
    agent = agent_for(site, registry)
    agent.run_once()
    registry.name_the_seq = True
    registry._push = FakeRegistry._push.__get__(registry)  # type: ignore[method-assign]  # fixed
    letter = dead_letters.resolve(site.db, 1, "retried", "budi", "the registry was upgraded")
    assert letter.retried_as == 3
    agent.run_once()
    with site.db.reading() as tx:
        row = tx.execute("SELECT kind, payload FROM outbox WHERE seq = 3").fetchone()
    assert row[0] == "gate.event" and json.loads(row[1])["poison"] == "a\x00b"
    assert sorted(registry.held) == [1, 2, 3, 4]  # placeholder, good, retry, resolution note


def test_a_registry_refusing_everything_stops_pushing_after_a_bounded_number(site: Any) -> None:
    registry = PoisonRefusingRegistry(site.settings.data_dir, name_the_seq=False)
    poisoned_backlog(site, dead_letters.MAX_OPEN + 5, set(range(1, dead_letters.MAX_OPEN + 6)))
    registry.changes = [{"seq": 1, "kind": "site.notice", "payload": {}}]
    report = agent_for(site, registry).run_once()

    assert report.push_problem is not None
    assert report.push_problem["details"]["registry_code"] == "too_many_dead_letters"
    assert registry.gets, "pulls go on even then"
    with site.db.reading() as tx:
        assert dead_letters.open_count(tx) == dead_letters.MAX_OPEN


def test_a_refused_site_key_is_not_taken_for_a_poisoned_change(site: Any) -> None:
    registry = FakeRegistry(site.settings.data_dir)
    backlog(site.db, 3)
    registry.fail_next = [401]
    with pytest.raises(SyncRefused):
        agent_for(site, registry).push_pending()
    assert summary(site.db)["dead_letters"] == []

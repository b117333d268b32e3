"""A site the registry refuses, or cannot reach, says so where people look: the agent stores what
stopped pushing or pulling (code, since, the registry's reason, what to do), `gerbang sync status`
words it in both languages, `/ready` warns, the metrics show it, `gerbang report` names it, and
the next answer that lets the direction go on clears it.

The registry is test_agent's MockTransport fake, taught to refuse every request as the real one
refuses a revoked key (401 `sync_unauthenticated`, reason "key revoked").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from console.main import main
from edge import sync_cli
from edge.daily_report import sync_lines
from edge.metrics import render_metrics
from edge.settings import Settings
from edge.site import Site
from edge.sync_text import problem_warnings, status_lines
from enrollment.db import Database
from gallery_sync.gallery import GalleryIndex
from gallery_sync.protocol import load_site_key, new_site_key, public_key_text
from site_sync import problems
from site_sync.site_key import pending_path
from site_sync.state import summary
from site_sync.uplink import RegistryUnreachable, SyncRefused
from tests.unit.test_agent import DIM, PACK, SITE, FakeRegistry, _error, agent_of, backlog

URL = "http://registry"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path, site_id=SITE, pack=PACK)
    new_site_key(sync_cli.key_path(settings))
    site = Site(settings)
    site.gallery_ = GalleryIndex(DIM)  # the seam: no face engine needed for sync
    yield site
    site.close()


class RevokingRegistry(FakeRegistry):
    """Refuses every request, as the real registry refuses a revoked key, while `revoked`."""

    def __init__(self, site_dir: Path) -> None:
        super().__init__(site_dir)
        self.revoked = True

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.revoked:
            return _error(401, "sync_unauthenticated", {"reason": "key revoked", "site_id": SITE})
        return super().handle(request)


def unreachable_seconds(site: Site) -> float:
    found = re.search(
        r"^gerbang_sync_registry_unreachable_seconds (\S+)$", render_metrics(site), re.M
    )
    assert found is not None
    return float(found[1])


def said(site: Site, now: datetime | None = None) -> str:
    return "\n".join(status_lines(SITE, summary(site.db), URL, now))


def test_a_revoked_key_is_stored_said_warned_and_counted_until_a_push_is_accepted(
    site: Site,
) -> None:
    registry = RevokingRegistry(site.settings.data_dir)
    agent = agent_of(site, registry, [])
    backlog(site.db, 1)
    with pytest.raises(SyncRefused):  # the pull is refused too: the round fails
        agent.run_once()
    state = summary(site.db)
    push = state["push_problem"]
    assert {k: push[k] for k in ("code", "status", "registry_code", "reason", "count")} == {
        "code": "sync_refused", "status": 401, "registry_code": "sync_unauthenticated",
        "reason": "key revoked", "count": 1,
    }  # fmt: skip
    assert "gerbang sync keygen --new" in push["fix"]["en"]
    assert f"gerbang registry sites set-key {SITE}" in push["fix"]["en"]
    assert f"gerbang registry sites set-key {SITE}" in push["fix"]["id"]
    assert state["pull_problem"]["reason"] == "key revoked"
    assert state["alarm"] is None and state["waiting"] == 1  # what the tryout saw, and no more

    with pytest.raises(SyncRefused):
        agent.run_once()
    again = summary(site.db)["push_problem"]
    assert again["count"] == 2 and again["since"] == push["since"]

    words = said(site)
    assert "** Pengiriman dan penerimaan berhenti: registri menolak situs ini (401" in words
    assert "** Pushing and pulling stopped: the registry refuses this site (401" in words
    assert "sync_unauthenticated: key revoked" in words
    assert (
        "Perbaiki: Kunci situs ini dicabut" in words and "Fix: This site's key was revoked" in words
    )
    warnings = problem_warnings(problems.stored_now(site.db))
    assert [w["code"] for w in warnings] == ["sync_push_stopped", "sync_pull_stopped"]
    assert "keygen --new" in warnings[0]["message"]["en"] and warnings[0]["message"]["id"]
    assert warnings[0]["details"]["reason"] == "key revoked"
    metrics = render_metrics(site)
    assert 'gerbang_sync_refused{direction="push"} 1.0' in metrics
    assert 'gerbang_sync_refused{direction="pull"} 1.0' in metrics
    report = "\n".join(sync_lines(summary(site.db), URL))
    assert (
        "** Pengiriman dan penerimaan berhenti: registri menolak situs ini (key revoked)" in report
    )
    assert "Pushing and pulling stopped: the registry refuses this site (key revoked)" in report

    registry.revoked = False  # the central admin registered the site's new key
    assert agent.run_once().pushed == 1
    state = summary(site.db)
    assert state["push_problem"] is None and state["pull_problem"] is None
    assert "berhenti" not in said(site) and "stopped" not in said(site)
    assert problem_warnings(problems.stored_now(site.db)) == []
    assert 'gerbang_sync_refused{direction="push"} 0.0' in render_metrics(site)


def test_a_refused_pull_with_nothing_to_push_is_stored_and_cleared_by_the_next_page(
    site: Site,
) -> None:
    registry = RevokingRegistry(site.settings.data_dir)
    agent = agent_of(site, registry, [])
    with pytest.raises(SyncRefused):
        agent.run_once()
    state = summary(site.db)
    assert state["push_problem"] is None and state["pull_problem"]["reason"] == "key revoked"
    assert "** Penerimaan berhenti" in said(site) and "** Pulling stopped" in said(site)
    registry.revoked = False
    assert agent.run_once().pulled == 0  # an empty page is an answer
    assert summary(site.db)["pull_problem"] is None


def test_an_unreachable_registry_is_stored_per_attempt_and_is_an_alarm_after_a_while(
    site: Site,
) -> None:
    registry = FakeRegistry(site.settings.data_dir)
    registry.fail_next = [httpx.ConnectError("link down"), 503, httpx.ConnectError("link down")]
    agent = agent_of(site, registry, [], max_attempts=3)
    backlog(site.db, 2)
    with pytest.raises(RegistryUnreachable):
        agent.push_pending()
    push = summary(site.db)["push_problem"]
    assert push["code"] == "registry_unreachable" and push["count"] == 3  # one outage
    assert "ConnectError" in push["reason"]  # the last attempt's (a 503 came in between)
    assert "EDGE_SYNC__REGISTRY_URL" in push["fix"]["en"]

    now = datetime.fromisoformat(push["since"])
    later = now + problems.UNREACHABLE_ALARM_AFTER + timedelta(minutes=1)
    assert not problems.is_alarm(push, now) and problems.is_alarm(push, later)
    assert "Pushing: the registry has not been reachable since" in said(site, now)
    assert "**" not in said(site, now) and "** Pushing: the registry" in said(site, later)
    assert problem_warnings(problems.stored_now(site.db), now) == []
    assert [w["code"] for w in problem_warnings(problems.stored_now(site.db), later)] == [
        "sync_push_stopped"
    ]
    assert unreachable_seconds(site) > 0

    assert agent.push_pending() == 2  # the link is back
    assert summary(site.db)["push_problem"] is None
    assert unreachable_seconds(site) == 0


@pytest.mark.parametrize(
    ("answer", "fix"),
    [
        ({"status": 401, "reason": "key revoked"}, "gerbang sync keygen --new"),
        ({"status": 401, "reason": "key retired and its grace window is over"},
         "gerbang sync rotate-key --registry URL"),
        ({"status": 401, "reason": "bad signature"}, "Print its public key with `gerbang sync keygen`"),
        ({"status": 401, "reason": "unknown site"}, f"gerbang registry sites add {SITE}"),
        ({"status": 401, "reason": "timestamp is 900 s from the registry clock"}, "timedatectl"),
        ({"status": 422, "registry_code": "too_many_dead_letters"}, "gerbang sync drop SEQ"),
        ({"status": 200, "registry_code": "no_progress"}, "Call the central admin"),
        ({"code": "registry_unreachable"}, "EDGE_SYNC__REGISTRY_CA_FILE"),
    ],
)  # fmt: skip
def test_each_refusal_names_what_to_do(answer: dict[str, Any], fix: str) -> None:
    found = problems.fix_for(
        {"code": "sync_refused", "registry_code": "sync_unauthenticated", **answer}, SITE
    )
    assert fix in found.en and found.id and found.id != found.en


def test_keygen_new_makes_a_fresh_key_and_keeps_the_revoked_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EDGE_SITE_ID", SITE)
    assert main(["sync", "keygen"]) == 0
    path = sync_cli.key_path(Settings(data_dir=tmp_path))
    revoked = public_key_text(load_site_key(path).public_key())
    pending_path(path).write_bytes(path.read_bytes())  # as a crashed rotation leaves one
    capsys.readouterr()
    assert main(["sync", "keygen", "--new", "--actor", "budi"]) == 0
    out = capsys.readouterr().out
    fresh = public_key_text(load_site_key(path).public_key())
    assert fresh != revoked and f"set-key {SITE} --public-key {fresh}" in out
    kept = list(path.parent.glob("site_ed25519.retired-*.pem"))
    assert [public_key_text(load_site_key(p).public_key()) for p in kept] == [revoked]
    assert not pending_path(path).exists()  # set aside, never reused
    assert len(list(path.parent.glob("site_ed25519.abandoned-*.pem"))) == 1
    db = Database(Settings(data_dir=tmp_path).database_path)
    with db.reading() as tx:
        actor, details = tx.execute(
            "SELECT actor, details FROM audit_events WHERE action = 'sync.key_replaced'"
        ).fetchone()
    db.close()
    assert actor == "budi" and json.loads(details)["previous_key"] == revoked

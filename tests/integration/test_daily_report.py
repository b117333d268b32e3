"""The daily report on real data: a real site (real face models, dev photos) enrols an inmate and
a visitor, runs a day at its gate (a visit opened and closed, a second entry refused, a stranger
refused, two alarms of which one is cleared), its own agent pushes to a real registry on
PostgreSQL, and both reports (`gerbang report` at the site and `gerbang registry report`) say
in words what happened: enrolments by role, visits, alarms raised/cleared/open, denials by reason.

Locally the module skips when PostgreSQL is unreachable; under CI=true it fails instead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from console import main as cli
from edge import sync_cli
from edge.gate.records import Gate, GateStore
from edge.settings import EnrolmentSettings, MatchSettings, Settings
from edge.site import Site
from enrollment.records import Consent, IdentityDraft
from gallery_sync.protocol import new_site_key
from tests.integration import test_registry as base
from tests.integration.test_camera_real import enrol
from tests.integration.test_registry import Registry
from tests.integration.test_registry_to_site import _client, _register

pytestmark = pytest.mark.model
database_url = base.database_url  # a fresh PostgreSQL database and registry for this module
registry = base.registry
VISITOR, INMATE, STRANGER = "deepface-img8", "deepface-img26", "facerec-obama"


@pytest.fixture(scope="module")
def registry_url(database_url: str) -> str:
    """PostgreSQL only: the production backend."""
    return database_url


@pytest.fixture(scope="module")
def day(
    model_dir: Path, dev_faces: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """A site after one day: see the module docstring for what happened at the gate."""
    settings = Settings(
        model_dir=model_dir, data_dir=tmp_path_factory.mktemp("report-site"),
        site_id=f"UPT-RPT-{uuid.uuid4().hex[:6]}",
        enrolment=EnrolmentSettings(min_captures=2, keep_best=3),
        match=MatchSettings(open_set_fallback="fmr-points"),  # a tiny Western gallery
    )  # fmt: skip
    site = Site(settings)
    site.start()
    assert site.ready, site.problem
    with site.db.transaction() as tx:
        GateStore(tx).add_gate(Gate("main", "Pintu utama", ("in", "out"), ("visitor", "inmate")))
    photo = lambda person, n: dev_faces / person / f"{n}.jpg"  # noqa: E731
    inmate = enrol(site, [photo(INMATE, n) for n in (1, 2, 3)], IdentityDraft(
        "inmate", "Andi", birth_date=date(1990, 12, 1), sex="M", registration_number="B.I-7/2024"))  # fmt: skip
    visitor = enrol(site, [photo(VISITOR, n) for n in (1, 2, 3)], IdentityDraft(
        "visitor", "Sari", birth_date=date(1985, 3, 7), sex="F", nik="3201014703850001",
        consent=Consent("kunjungan", "desk", "2026-01-05T08:00:00+00:00")))  # fmt: skip
    gate = site.gate
    decisions = [
        gate.visitor_entry(
            "main", photo(VISITOR, 4).read_bytes(), "petugas", visitor_id=visitor, inmate_id=inmate
        ),
        gate.visitor_entry("main", photo(VISITOR, 5).read_bytes(), "petugas", visitor_id=visitor),
        gate.visitor_entry(
            "main", photo(STRANGER, 1).read_bytes(), "petugas", nik="3201010101900001"
        ),
        gate.visitor_exit("main", photo(INMATE, 4).read_bytes(), "kamera"),
        gate.visitor_exit("main", photo(INMATE, 5).read_bytes(), "kamera"),
        gate.visitor_exit("main", photo(VISITOR, 5).read_bytes(), "kamera"),
    ]
    seen = [(d.event.result, d.event.reason) for d in decisions]
    assert seen[0] == ("admit", "visitor_verified") and seen[5][0] == "admit", seen
    assert seen[1] == ("deny", "already_inside") and seen[2][0] == "deny", seen
    assert seen[3] == seen[4] == ("alarm", "inmate_leaving"), seen
    gate.clear_alarm(decisions[3].event.id, "supervisor", "dikembalikan ke blok")
    yield site
    site.close()


def _denials(activity: dict) -> dict[str, int]:  # type: ignore[type-arg]
    return {d["reason"]: d["count"] for d in activity["denials"]}


def test_the_site_report_counts_the_day_in_words(
    day: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(day.settings.data_dir))
    monkeypatch.setenv("EDGE_SITE_ID", day.settings.site_id)
    assert cli.main(["report", "--json"]) == 0
    activity = json.loads(capsys.readouterr().out)["activity"]
    assert activity["enrolled"] == {"inmate": 1, "staff": 0, "visitor": 1}
    assert (activity["visits_in"], activity["visits_out"]) == (1, 1)
    assert (activity["alarms_raised"], activity["alarms_cleared"], activity["alarms_open"]) == (
        2,
        1,
        1,
    )
    denials = _denials(activity)
    assert denials.pop("already_inside") == 1 and sum(denials.values()) == 1
    assert cli.main(["report"]) == 0
    text = capsys.readouterr().out
    assert (
        "Pendaftaran / enrolments: 1 warga binaan / inmates, 0 petugas / staff, 1 pengunjung"
        in text
    )
    assert "Kunjungan / visits: 1 masuk / in, 1 keluar / out" in text
    assert "Alarm: 2 berbunyi / raised, 1 diselesaikan / cleared, 1 belum diselesaikan" in text
    assert "1  tercatat sudah di dalam / already recorded inside" in text
    assert "already_inside" not in text  # words, not codes


def test_without_a_registry_the_changes_are_said_to_be_kept_here(
    day: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EDGE_DATA_DIR", str(day.settings.data_dir))
    monkeypatch.setenv("EDGE_SITE_ID", day.settings.site_id)
    monkeypatch.delenv("EDGE_SYNC__REGISTRY_URL", raising=False)
    assert cli.main(["report"]) == 0
    text = capsys.readouterr().out
    assert "perubahan disimpan di situs ini: belum ada registri yang diatur" in text
    assert "changes kept at this site: no registry is configured" in text
    assert "menunggu dikirim" not in text and "waiting to be sent" not in text
    assert cli.main(["sync", "status"]) == 0
    status = capsys.readouterr().out.splitlines()
    assert (
        status[0] == f"Sinkronisasi situs {day.settings.site_id} / site sync {day.settings.site_id}"
    )
    assert "no registry is configured" in status[2] and "sent through seq 0 of" in status[4]
    assert cli.main(["sync", "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pushed_through"] == 0


def test_the_registry_report_says_the_same_after_the_site_pushes(
    day: Site, registry: Registry, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    settings = day.settings
    _register(registry, settings.site_id, new_site_key(sync_cli.key_path(settings)))
    quiet = registry.site()  # registered in the same region, never heard from
    agent = sync_cli.agent_for_site(
        day, _client(registry, settings.site_id, sync_cli.site_key(settings))
    )
    assert agent.push_pending() > 0
    monkeypatch.setenv("EDGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EDGE_SITE_ID", settings.site_id)
    assert cli.main(["report"]) == 0  # the agent ran from `sync run --registry`, not the service
    assert "0 perubahan menunggu dikirim ke registri / 0 changes waiting" in capsys.readouterr().out
    monkeypatch.setenv("REGISTRY_DATABASE_URL", registry.url)
    assert cli.main(["registry", "report", "--region", "KW-JABAR", "--json"]) == 0
    sites = {s["id"]: s for s in json.loads(capsys.readouterr().out)["sites"]}
    activity = sites[settings.site_id]["activity"]
    assert activity["enrolled"] == {"inmate": 1, "staff": 0, "visitor": 1}
    assert (activity["visits_in"], activity["visits_out"]) == (1, 1)
    assert (activity["alarms_raised"], activity["alarms_cleared"], activity["alarms_open"]) == (
        2,
        1,
        1,
    )
    assert _denials(activity)["already_inside"] == 1 and sum(_denials(activity).values()) == 2
    assert sites[quiet.id]["silent"] and not sites[settings.site_id]["silent"]

    assert cli.main(["registry", "report", "--region", "KW-JABAR"]) == 0
    text = capsys.readouterr().out
    block = text.split(f"\n{settings.site_id} ")[1].split("\n\n")[0]
    assert "2 berbunyi / raised, 1 diselesaikan / cleared, 1 belum diselesaikan" in block
    assert "already recorded inside" in block and "already_inside" not in block
    assert "tersambung / in touch" in block
    assert "situs diam lebih dari 24 jam / sites silent for more than 24 hours: " in text
    assert quiet.id in text.splitlines()[-1] and settings.site_id not in text.splitlines()[-1]

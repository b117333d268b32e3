"""The README's one-machine demo: a registry on its embedded default (an SQLite file under its
working folder, no PostgreSQL) and two site services, all separate processes over loopback HTTP.

The same person enrolled at both sites opens a duplicate case at the registry; the adjudicator's
"same" reaches the site holding the merged record. The full flows (kills, a week offline,
transfers) run on PostgreSQL in test_sync_processes.py; this proves the demo's defaults work.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.test_sync_processes import (
    PERSON,
    RegistryProcess,
    _free_port,
    _new_site,
    _open_case,
    _stop,
    _wait_for,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_the_demo_registry_runs_on_its_sqlite_default_with_two_sites(
    model_dir: Path, dev_faces: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    registry = RegistryProcess(env, _free_port(), tmp_path / "registry.log", cwd=tmp_path)
    registry.start()
    sites = []
    try:
        a = _new_site("UPT-DEMO-A", "KW-JABAR", registry, tmp_path, model_dir)
        b = _new_site("UPT-DEMO-B", "KW-JATIM", registry, tmp_path, model_dir)
        registry.account("judge", "adjudicator")
        for site in (a, b):
            site.start()
            sites.append(site)
        assert (tmp_path / "var" / "registry.db").is_file()  # the default, under its folder

        photos = sorted((dev_faces / PERSON).glob("*.jpg"))
        at_a = a.enrol("Barack", 1, photos[:2])
        _wait_for(lambda: registry.query("SELECT site_id FROM national_identities WHERE id = %s", at_a),
                  "A's enrolment at the registry")  # fmt: skip
        at_b = b.enrol("Hussein", 2, photos[3:5], national=[at_a])  # B is shown A's person
        case = _wait_for(lambda: _open_case(registry, {at_a, at_b}), "a duplicate case for A and B")
        decided = registry.post(f"/v1/cases/{case['id']}/decision", "judge",
                                {"decision": "same", "reason": "same face, same birth date"})  # fmt: skip
        assert decided.status_code == 200 and decided.json()["survivor_id"] == at_a
        _wait_for(lambda: b.get(f"/v1/identities/{at_b}")["details"].get("registry_survivor_id") == at_a,
                  "the merge at B")  # fmt: skip
        rows = registry.query("SELECT site_id, status FROM national_identities ORDER BY site_id")
        assert rows == [("UPT-DEMO-A", "active"), ("UPT-DEMO-B", "merged")]
    finally:
        for process in (*(s.process for s in sites), registry.process):
            if process is not None and process.poll() is None:
                _stop(process)

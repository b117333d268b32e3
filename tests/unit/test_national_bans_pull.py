"""A site's ban travelling through the national watchlist, as another site and the banning site
pull it (site_sync/apply.py; issue 14). Real site database and gallery, the registry faked at the
HTTP seam (tests/unit/test_agent.py's harness); the three-process run is
tests/integration/test_national_bans.py.
"""

from __future__ import annotations

from typing import Any

from edge.site import Site
from enrollment.repository import IdentityRepository
from site_sync.agent import SiteAgent
from tests.unit.test_agent import (  # noqa: F401 (fixtures)
    SITE,
    FakeRegistry,
    agent,
    best,
    enrol_local,
    feed,
    get,
    record,
    registry,
    site,
    sleeps,
    unit_vectors,
    with_templates,
)

BANNED_AT = "UPT-B"  # this site is test_agent.SITE, UPT-A


def _ban(identity_id: str, vectors: Any, banned_by: str) -> dict[str, Any]:
    body = with_templates(record(identity_id, "Dewi", "visitor", origin=banned_by), vectors)
    return {**body, "reason": "membawa barang terlarang", "banned_by_site": banned_by}


def _templates(at: Site, identity_id: str) -> int:
    with at.db.reading() as tx:
        row = tx.execute("SELECT COUNT(*) FROM templates WHERE identity_id = ?", (identity_id,))
        return int(row.fetchone()[0])


def test_another_sites_ban_is_held_banned_erased_when_lifted_and_held_again_when_banned_anew(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
) -> None:
    face = unit_vectors(2, 31)
    feed(registry, ("watchlist.added", _ban("v-9", face, BANNED_AT)))
    assert agent.pull_pending() == 1
    assert (get(site, "v-9").status, best(site, face[1], "visitor", "banned")[0]) == (
        "banned",
        "v-9",
    )
    lifted = {"identity_id": "v-9", "reason": "larangan dicabut", "banned_by_site": BANNED_AT}
    feed(registry, ("watchlist.removed", lifted))
    assert agent.pull_pending() == 1
    assert (get(site, "v-9").status, _templates(site, "v-9")) == ("erased", 0)
    assert best(site, face[1], "visitor", "banned")[0] == ""
    feed(registry, ("watchlist.added", _ban("v-9", face, BANNED_AT)))
    assert agent.pull_pending() == 1
    assert (get(site, "v-9").status, _templates(site, "v-9")) == ("banned", 2)
    assert best(site, face[0], "visitor", "banned")[0] == "v-9"


def test_the_banning_site_leaves_its_own_ban_alone_when_it_comes_back(
    site: Site,  # noqa: F811
    registry: FakeRegistry,  # noqa: F811
    agent: SiteAgent,  # noqa: F811
) -> None:
    visitor = enrol_local(site, "Dewi", role="visitor", seed=41)
    with site.db.transaction() as tx:
        IdentityRepository(tx, site.vault).set_status(visitor, "banned")
    held = _templates(site, visitor)
    feed(registry, ("watchlist.added", _ban(visitor, unit_vectors(2, 41), SITE)))
    feed(registry, ("watchlist.removed", {"identity_id": visitor, "banned_by_site": SITE}))
    assert agent.pull_pending() == 2
    assert (get(site, visitor).status, _templates(site, visitor)) == ("banned", held)

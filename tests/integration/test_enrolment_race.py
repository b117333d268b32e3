"""Two enrolment desks saving the same new person at the same instant, on a real site (real
models, real photos, the real FAISS gallery): exactly one identity is created, the other desk
gets 409 possible_duplicate naming it.

The danger is two searches running before either save reaches the gallery. The gallery below is
the site's own, except that a search first waits (up to a few seconds) for the other desk's
search to arrive: without the service's commit lock both searches meet, find nobody and both
save; with it the second search can only start once the first commit is in the gallery, so the
first desk's wait runs out and it carries on alone. The wait is a rendezvous, not a timing
assertion: the outcome is the same however slow the machine.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from enrollment.records import IdentityDraft
from enrollment.service import CommitResult, EnrolmentService, PossibleDuplicate
from gallery_sync.gallery import GalleryIndex
from tests.integration.conftest import SiteClient
from tests.integration.test_enrolment_api import capture

pytestmark = pytest.mark.model

RENDEZVOUS_S = 3.0


class RendezvousGallery:
    """The site gallery, whose searches wait for a second concurrent search before running."""

    def __init__(self, gallery: GalleryIndex, parties: int) -> None:
        self._gallery = gallery
        self.meeting = threading.Barrier(parties)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):  # the other desk did not come
            self.meeting.wait(RENDEZVOUS_S)
        return self._gallery.search(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gallery, name)


def test_two_desks_saving_the_same_new_person_at_once_make_one_identity_and_one_409(
    site_client: SiteClient, dev_faces: Path
) -> None:
    site = site_client.site
    person = [f"deepface-img26/{n}.jpg" for n in range(1, 9)]
    sessions = [capture(site_client, dev_faces, "inmate", person[:4]),
                capture(site_client, dev_faces, "inmate", person[4:])]  # fmt: skip
    # Two names and two numbers: only the face can tell the desks they hold one person.
    drafts = [IdentityDraft(role="inmate", full_name=name, birth_date=date(1990, 12, 1), sex="M",
                            registration_number=number)
              for name, number in (("Budi Santoso", "B.I-501/2024"), ("Joko Susilo", "B.I-502/2024"))]  # fmt: skip
    gallery = RendezvousGallery(site.gallery(), parties=2)
    desks = EnrolmentService(site.db, site.vault, site.engine, lambda: gallery, site.thresholds,  # type: ignore[arg-type,return-value]
                             site.settings.site_id, site.enrolment.policy)  # fmt: skip
    outcomes: list[Any] = [None, None]

    def desk(number: int) -> None:
        try:
            outcomes[number] = desks.commit(sessions[number], drafts[number], [], f"desk-{number}")
        except Exception as exc:  # kept for the assertion, whatever it is
            outcomes[number] = exc

    threads = [threading.Thread(target=desk, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    saved = [o for o in outcomes if isinstance(o, CommitResult)]
    refused = [o for o in outcomes if isinstance(o, PossibleDuplicate)]
    assert len(saved) == 1 and len(refused) == 1, outcomes
    assert [c["identity_id"] for c in refused[0].details["candidates"]] == [saved[0].identity_id]
    with site.db.reading() as tx:
        names = tx.execute(
            "SELECT full_name FROM identities WHERE registration_number LIKE 'B.I-50_/2024'"
        ).fetchall()
    assert len(names) == 1
    assert gallery.best_score_for(site.engine().analyse_bytes(
        (dev_faces / person[0]).read_bytes()).template, saved[0].identity_id) is not None  # fmt: skip

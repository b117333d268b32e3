"""A site answering the registry's photo requests, with the agent of tests/unit/test_agent.py
against its signature-checking fake registry: the answer is an outbox row written with the pull
cursor, it travels in byte-capped batches, an erasure strips it before it leaves, and the image
does not stay in the outbox once the registry has acknowledged it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import numpy as np
from PIL import Image

from enrollment.records import IdentityDraft
from enrollment.repository import IdentityRepository
from enrollment.vault import open_payload
from gallery_sync.protocol import canonical, decode
from site_sync.state import PULLED
from tests.unit import test_agent as world
from tests.unit.test_agent import PACK, SITE, FakeRegistry, agent_of, feed, state, unit_vectors

# The agent's fixtures: a site with a key, the fake registry, recorded backoff sleeps, the agent.
site, registry, sleeps, agent = world.site, world.registry, world.sleeps, world.agent


def png_of_noise(side: int, seed: int) -> bytes:
    """A PNG that does not compress (random pixels): side*side*3 bytes and a little more."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def enrol_with_images(site: Any, images: list[bytes], photo_of_record: int | None = 0) -> str:
    """A visitor with kept images (qualities rising with the index) and templates."""
    with site.db.transaction() as tx:
        repo = IdentityRepository(tx, site.vault)
        identity_id = repo.insert(IdentityDraft(role="visitor", full_name="Rina"), SITE)
        image_ids = []
        for i, (data, vector) in enumerate(zip(images, unit_vectors(len(images), 11), strict=True)):
            image_id, digest = repo.add_image(identity_id, data, "image/png", "t")
            repo.add_template(identity_id, image_id, digest, PACK, vector, 0.5 + i / 10, "t")
            image_ids.append(image_id)
        if photo_of_record is not None:
            repo.update_fields(identity_id, {"photo_image_id": image_ids[photo_of_record]})
    return identity_id


def outbox(site: Any) -> list[tuple[int, str, str, dict[str, Any]]]:
    with site.db.reading() as tx:
        rows = tx.execute(
            "SELECT seq, kind, entity_id, payload FROM outbox ORDER BY seq"
        ).fetchall()
    # The image travels sealed in the outbox row: open it as the agent does before a push.
    return [
        (r[0], r[1], r[2], open_payload(site.vault, r[1], r[2], json.loads(r[3]))) for r in rows
    ]


def ask(registry: FakeRegistry, *identity_ids: str) -> None:
    start = len(registry.changes)
    feed(registry, *[("photo.requested", {"request_id": start + n + 1, "identity_id": i})
                     for n, i in enumerate(identity_ids)])  # fmt: skip


def test_a_request_is_answered_with_the_photo_of_record_in_the_pull_transaction(
    site, registry, agent
):
    record, better = png_of_noise(8, 1), png_of_noise(8, 2)
    person = enrol_with_images(site, [record, better], photo_of_record=0)
    ask(registry, person)
    assert agent.pull_pending() == 1 and state(site, PULLED) == 1
    [(seq, kind, entity_id, payload)] = outbox(site)
    assert (kind, entity_id, payload["request_id"]) == ("photo.provided", person, 1)
    assert base64.b64decode(payload["image_b64"]) == record  # the photo of record, byte for byte
    assert payload["sha256"] == hashlib.sha256(record).hexdigest()
    assert (payload["content_type"], payload["source"]) == ("image/png", "photo_of_record")
    with site.db.reading() as tx:
        audit = tx.execute(
            "SELECT actor, action, subject FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert tuple(audit) == ("registry", "sync.photo.requested", person)

    assert agent.push_pending() == 1  # travels in the next signed push
    batch = decode(*registry.posts[-1], registry.public)
    assert [(c.seq, c.kind) for c in batch.changes] == [(seq, "photo.provided")]
    [(_, _, _, kept)] = outbox(site)  # acknowledged: the outbox keeps the digest, not the image
    assert "image_b64" not in kept and kept["sha256"] == payload["sha256"]


def test_without_a_photo_of_record_the_best_capture_is_sent(site, registry, agent):
    worse, best = png_of_noise(8, 3), png_of_noise(8, 4)
    person = enrol_with_images(site, [worse, best], photo_of_record=None)
    ask(registry, person)
    agent.pull_pending()
    [(_, _, _, payload)] = outbox(site)
    assert base64.b64decode(payload["image_b64"]) == best and payload["source"] == "best_capture"


def test_a_kept_webp_travels_as_a_lossless_png(site, registry, agent):
    out = io.BytesIO()
    Image.new("RGB", (20, 12), (10, 200, 30)).save(out, format="WEBP", lossless=True)
    person = enrol_with_images(site, [out.getvalue()])
    ask(registry, person)
    agent.pull_pending()
    [(_, _, _, payload)] = outbox(site)
    sent = base64.b64decode(payload["image_b64"])
    assert payload["content_type"] == "image/png" and sent.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(sent)) as png:
        assert png.size == (20, 12) and png.getpixel((3, 3)) == (10, 200, 30)


def test_unknown_erased_imageless_and_unreadable_people_get_an_unavailable_answer(
    site, registry, agent
):
    erased = enrol_with_images(site, [png_of_noise(8, 5)])
    unreadable = enrol_with_images(site, [b"not an image at all"])
    with site.db.transaction() as tx:
        repo = IdentityRepository(tx, site.vault)
        repo.erase_biometrics(erased)
        repo.set_status(erased, "erased")
        imageless = repo.insert(IdentityDraft(role="visitor", full_name="Tanpa Foto"), SITE)
    ask(registry, "not-here", erased, imageless, unreadable)
    assert agent.pull_pending() == 4
    answers = [
        (kind, entity, p["request_id"], p.get("reason")) for _, kind, entity, p in outbox(site)
    ]
    assert answers == [
        ("photo.unavailable", "not-here", 1, "unknown_identity"),
        ("photo.unavailable", erased, 2, "erased"),
        ("photo.unavailable", imageless, 3, "no_image"),
        ("photo.unavailable", unreadable, 4, "unreadable_image"),
    ]


def test_an_erasure_before_the_push_strips_the_image_from_the_unsent_answer(site, registry, agent):
    person = enrol_with_images(site, [png_of_noise(8, 6)])
    ask(registry, person)
    agent.pull_pending()
    with site.db.transaction() as tx:
        IdentityRepository(tx, site.vault).erase_biometrics(person)
    agent.push_pending()
    [change] = decode(*registry.posts[-1], registry.public).changes
    assert change.kind == "photo.provided" and "image_b64" not in change.payload
    assert change.payload["request_id"] == 1  # the registry can still close the request


def test_batches_are_capped_by_bytes_and_a_photo_larger_than_the_cap_goes_alone(
    site, registry, sleeps
):
    budget = 200_000
    small = [enrol_with_images(site, [png_of_noise(120, 10 + n)]) for n in range(5)]  # ~58 kB each
    large = enrol_with_images(site, [png_of_noise(300, 20)])  # ~270 kB: over the budget alone
    ask(registry, *small, large)
    capped = agent_of(site, registry, sleeps, batch_size=100, max_batch_bytes=budget)
    capped.pull_pending()
    assert capped.push_pending() == 6
    batches = [decode(body, signature, registry.public) for body, signature in registry.posts]
    assert [len(b.changes) for b in batches] == [3, 2, 1]
    assert all(len(canonical(b)) <= budget for b in batches[:2])
    assert len(canonical(batches[2])) > budget  # sent anyway: the outbox never stalls
    assert sorted(registry.held) == list(range(1, 7))

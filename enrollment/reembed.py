"""Re-embedding every kept enrolment image with another model pack, resumably.

Templates are keyed by (image, pack), so a run that is stopped and started again only embeds the
images still missing one. The site's active pack (`site_state.active_pack`) changes only when
every image with bytes has a template for the new pack or is recorded as failed, so the gate never
searches a half-built gallery.

The site service may go on enrolling (with its old pack) while a re-embed runs. The check that
nothing is left and the switch are therefore one write transaction: an enrolment committed before
it is found there and embedded in another round (up to MAX_ROUNDS; a desk enrolling faster than
that leaves the switch to the next run), and one committed after it is refused by the guard in
enrollment/packs.py, because the service still holds the old pack: it must be restarted. Nobody
is left without a template for the pack the site runs on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from tqdm import tqdm

from enrollment.audit import now_iso
from enrollment.captures import FaceAnalyser
from enrollment.db import Database
from enrollment.packs import active_pack
from enrollment.unit_of_work import reading, unit_of_work
from enrollment.vault import Vault
from kernel.errors import GerbangError

__all__ = ["BATCH", "MAX_ROUNDS", "ReembedReport", "active_pack", "reembed"]

BATCH = 32
MAX_ROUNDS = 5  # embed, find more enrolled meanwhile, embed those... then give up until rerun


@dataclass(frozen=True)
class ReembedReport:
    """What a run did."""

    pack_id: str
    embedded: int
    failed: dict[int, str]  # image id → error code
    remaining: int
    switched: bool
    uncovered: list[str]


def _pending(tx: sqlite3.Connection, pack_id: str, failed: set[int]) -> list[int]:
    """Images with bytes and no template for the pack (and not known to fail)."""
    rows = tx.execute(
        "SELECT im.id FROM images im JOIN identities i ON i.id = im.identity_id"
        " WHERE im.data IS NOT NULL AND i.status != 'erased' AND NOT EXISTS"
        " (SELECT 1 FROM templates t WHERE t.image_id = im.id AND t.pack_id = ?) ORDER BY im.id",
        (pack_id,),
    )
    return [r[0] for r in rows if r[0] not in failed]


def _uncovered(tx: sqlite3.Connection, pack_id: str) -> list[str]:
    """Identities with templates in some pack but none in this one."""
    rows = tx.execute(
        "SELECT DISTINCT t.identity_id FROM templates t JOIN identities i ON i.id = t.identity_id"
        " WHERE i.status != 'erased' AND NOT EXISTS"
        " (SELECT 1 FROM templates n WHERE n.identity_id = t.identity_id AND n.pack_id = ?)",
        (pack_id,),
    )
    return [r[0] for r in rows]


def _batches(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _embed_batch(
    db: Database, vault: Vault, engine: FaceAnalyser, image_ids: list[int], failed: dict[int, str]
) -> int:
    """Embed a batch and store its templates in one transaction; failures are remembered."""
    with reading(db, vault) as uow:
        rows = {
            i: uow.connection.execute(
                "SELECT identity_id, captured_at FROM images WHERE id = ?", (i,)
            ).fetchone()
            for i in image_ids
        }
        data = {i: uow.identities.image_bytes(i) for i in image_ids}
    results = []
    for image_id in image_ids:
        try:
            results.append((image_id, engine.analyse_bytes(data[image_id] or b"")))
        except GerbangError as exc:
            failed[image_id] = exc.code
    with unit_of_work(db, vault) as uow:
        repo, tx = uow.identities, uow.connection
        for image_id, analysis in results:
            identity_id, captured_at = rows[image_id]
            sha = tx.execute("SELECT sha256 FROM images WHERE id = ?", (image_id,)).fetchone()[0]
            repo.add_template(identity_id, image_id, sha, engine.pack_id, analysis.template,
                              analysis.quality.score, captured_at, staged=True)  # fmt: skip
    return len(results)


def _switch_when_complete(
    db: Database, pack_id: str, failed: dict[int, str], actor: str, embedded: int
) -> tuple[bool, list[int]]:
    """In one write transaction: the images still missing a template, and the switch if none
    are. A commit racing it is either seen here (pending) or comes after it (and is refused)."""
    with unit_of_work(db) as uow:
        tx = uow.connection
        pending = _pending(tx, pack_id, set(failed))
        # A person whose every image failed would vanish from the new gallery: do not switch then.
        if pending or _uncovered(tx, pack_id):
            return False, pending
        tx.execute(
            "INSERT INTO site_state (key, value) VALUES ('active_pack', ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (pack_id,),
        )
        uow.audit(actor, "site.pack_switched", pack_id, {
            "embedded": embedded, "failed": json.dumps(failed), "at": now_iso(),
        })  # fmt: skip
    return True, []


def reembed(
    db: Database, vault: Vault, engine: FaceAnalyser, actor: str, progress: bool = True
) -> ReembedReport:
    """Embed what is missing for engine.pack_id; switch the site's pack when nothing is left."""
    failed: dict[int, str] = {}
    with db.reading() as tx:
        todo = _pending(tx, engine.pack_id, set())
    embedded, switched = 0, False
    with tqdm(total=len(todo), unit="img", disable=not progress) as bar:
        for _ in range(MAX_ROUNDS):
            for batch in _batches(todo, BATCH):
                embedded += _embed_batch(db, vault, engine, batch, failed)
                bar.update(len(batch))
            switched, todo = _switch_when_complete(db, engine.pack_id, failed, actor, embedded)
            if switched or not todo:
                break
            bar.total += len(todo)  # enrolled while this run was embedding
    with db.reading() as tx:
        uncovered = _uncovered(tx, engine.pack_id)
    return ReembedReport(engine.pack_id, embedded, failed, len(todo), switched, uncovered)

"""`gerbang finger reextract`: the site's finger templates made again by the configured extractor.

Runs beside the service (each template is its own transaction: enrollment/reextraction.py);
restarting the service is not needed, as its finger index follows the table's change counter.
"""

from __future__ import annotations

import argparse

from tqdm import tqdm

from edge import wiring
from edge.admin_commands import login_name
from edge.settings import Settings
from enrollment.db import Database
from enrollment.keyring import SealedVault, resolve_kek
from enrollment.reextraction import census, reextract


def reextract_command(args: argparse.Namespace) -> int:
    """Re-extract every template of another extractor that has its image; exit 1 on failures."""
    settings = Settings()
    extractor = wiring.finger_extractor(settings)
    db = Database(settings.database_path)
    kek = resolve_kek(settings.key.passphrase_file, settings.key.kek_file, settings.data_dir, db)
    before = census(db, extractor)
    with tqdm(total=before.other if args.limit is None else min(args.limit, before.other),
              desc="reextract", unit="template") as bar:  # fmt: skip
        report = reextract(db, SealedVault(db, kek), extractor, args.officer or login_name(),
                           args.limit, bar.update)  # fmt: skip
    after = census(db, extractor)
    print(f"extractor {extractor.name}: {report.replaced} re-extracted, {len(report.failed)} failed,"
          f" {after.other - len(report.failed)} left; {after.current} templates by {extractor.name}")  # fmt: skip
    for template_id, code in sorted(report.failed.items()):
        print(f"  template {template_id}: {code} (its old record is kept)")
    if after.without_image:
        print(f"{after.without_image} templates came from the registry without an image: the"
              " site that enrolled them re-extracts them")  # fmt: skip
    return 1 if report.failed else 0


def add_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `finger reextract`."""
    again = actions.add_parser(
        "reextract",
        help="make the stored finger templates again with the configured extractor; resumable",
        description="Make every stored finger template whose image this site holds again with"
        " EDGE_MATCH__FINGER_EXTRACTOR's extractor, one transaction each (run it again after an"
        " interruption); the registry receives each new record.",
    )
    again.add_argument("--limit", type=int, help="at most this many templates in this run")
    again.add_argument("--officer", help="who runs it, for the audit log (default: login name)")
    again.set_defaults(handler=reextract_command)

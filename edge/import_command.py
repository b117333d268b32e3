"""`gerbang import CSV --photos DIR [--mapping FILE]`: migrate a prison-database export into this
site; with a column mapping (enrollment/column_mapping.py), an SDP export or a spreadsheet as is.

Run the same file again to resume after a crash or an interruption: finished rows are skipped.
Exit status 0 when every row is imported, 1 when some were rejected or flagged (see the report).
It may run while `gerbang serve` runs: the service applies the imported people to its gallery
within seconds, and this process applies what the desk saved meanwhile just before each row's
duplicate check (site_sync/follow.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.settings import Settings
from edge.site import Site
from enrollment.column_mapping import load_mapping
from enrollment.importer import ExportImporter, ImportSummary, archive_policy
from enrollment.service import EnrolmentService


def archive_service(site: Site) -> EnrolmentService:
    """Enrolment over the site's own database, engine and gallery, with archive capture rules
    (the importer's, and the desk's when it finishes a flagged import row)."""
    return EnrolmentService(
        site.db,
        site.vault,
        site.engine,
        site.gallery,
        site.thresholds,
        site.settings.site_id,
        archive_policy(site.enrolment.policy),
        gallery_refresh=site.gallery_feed.follow,
    )


def archive_importer(site: Site, officer: str, progress: bool = True) -> ExportImporter:
    """An importer over the site's own database, engine and gallery, with archive capture rules."""
    return ExportImporter(archive_service(site), officer, progress)


def summary_text(summary: ImportSummary) -> str:
    """The closing lines an officer reads, Indonesian first."""
    s = summary
    return (
        f"diimpor {s.imported}, ditolak {s.rejected}, ditandai {s.flagged},"
        f" dilewati {s.skipped} (sudah selesai), dipulihkan {s.recovered}"
        f" dari {s.total} baris dalam {s.seconds:.1f} dtk ({s.persons_per_second:.1f} orang/dtk)\n"
        f"laporan: {s.report} ({s.unresolved} baris perlu diperiksa petugas)\n"
        f"imported {s.imported}, rejected {s.rejected}, flagged {s.flagged},"
        f" skipped {s.skipped} (already done), recovered {s.recovered}"
        f" of {s.total} rows in {s.seconds:.1f} s ({s.persons_per_second:.1f} persons/s)\n"
        f"report: {s.report} ({s.unresolved} rows need an officer)"
    )


def import_export(args: argparse.Namespace) -> int:
    """Start the site's models, import the file, print the summary."""
    mapping = load_mapping(Path(args.mapping)) if args.mapping else None  # before the models load
    site = Site(Settings())
    try:
        site.load()
        if site.problem is not None:
            raise site.problem
        importer = archive_importer(site, args.officer)
        report = args.report and Path(args.report)
        summary = importer.run(Path(args.csv), Path(args.photos), report, mapping=mapping)
    finally:
        site.close()
    print(summary_text(summary))
    return 1 if summary.unresolved else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `import` to the main parser."""
    command = sub.add_parser(
        "import", help="import a prison-database export (CSV + photo folder); resumable"
    )
    command.add_argument("csv", help="the export: one row per person (see enrollment/export_rows)")
    command.add_argument(
        "--photos", required=True, help="folder the `photos` column is relative to"
    )
    command.add_argument(
        "--mapping",
        help="column mapping (.toml or .json) for another system's export;"
        " see docs/examples/sdp-mapping.toml",
    )
    command.add_argument("--report", help="report CSV to write (default: <CSV stem>.report.csv)")
    command.add_argument(
        "--officer", default="import", help="name recorded in the audit log (default: import)"
    )
    command.set_defaults(handler=import_export)

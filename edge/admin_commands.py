"""`gerbang gallery|reembed|audit` subcommands: a site admin's tools at the console.

Officer accounts (`gerbang operators ...`) are `edge.operator_commands`.
"""

from __future__ import annotations

import argparse
import getpass
import json
from contextlib import closing

from edge import wiring
from edge.service_client import signed_in_service
from edge.settings import Settings
from enrollment.audit import chain_head, verify_anchored
from enrollment.db import Database
from enrollment.keyring import SealedVault, resolve_kek
from enrollment.reembed import reembed
from models.obtain import ensure_converted


def gallery_check(args: argparse.Namespace) -> int:
    """Ask the running service to compare its live gallery with the database."""
    with closing(signed_in_service(args)) as service:
        body = service.request("GET", "/v1/admin/gallery").json()
    print(json.dumps(body, indent=2))
    return 0 if body.get("ok") else 1


def gallery_rebuild(args: argparse.Namespace) -> int:
    """Ask the running service to rebuild its gallery from the database."""
    with closing(signed_in_service(args)) as service:
        response = service.request("POST", "/v1/admin/gallery/rebuild")
    print(response.text)
    return 0


def login_name() -> str:
    """Who is at the console, for the audit log; 'console' when the system cannot say."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console"


def reembed_command(args: argparse.Namespace) -> int:
    """Embed every kept image with another pack; the site switches when it is complete."""
    settings = Settings()
    spec = wiring.engine_spec(settings, args.pack)
    ensure_converted(spec.store, spec.pack)
    db = Database(settings.database_path)
    kek = resolve_kek(settings.key.passphrase_file, settings.key.kek_file, settings.data_dir, db)
    report = reembed(db, SealedVault(db, kek), spec.build(), actor=args.officer or login_name())
    pack, failed, uncovered = report.pack_id, len(report.failed), len(report.uncovered)
    print(f"paket {pack}: {report.embedded} templat dibuat, {failed} gagal, {report.remaining} tersisa\n"
          f"pack {pack}: {report.embedded} embedded, {failed} failed, {report.remaining} left")  # fmt: skip
    for image_id, code in sorted(report.failed.items()):
        print(f"  image {image_id}: {code}")
    if report.switched:
        print(f"situs kini memakai {pack}; mulai ulang layanan untuk memuatnya\n"
              f"the site now uses {pack}; restart the service to load it")  # fmt: skip
        return 0
    print(f"belum beralih: {uncovered} identitas tidak akan punya templat di {pack}\n"
          f"not switched: {uncovered} identities would have no template in {pack}")  # fmt: skip
    return 1


def _kept_head(text: str) -> tuple[int, str]:
    """SEQ:HASH, as `gerbang audit head` prints it."""
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise argparse.ArgumentTypeError("expected SEQ:HASH (as `gerbang audit head` prints)")
    return int(seq), digest


def audit_verify(args: argparse.Namespace) -> int:
    """Walk the audit chain; say which event is the first that does not fit, including events
    deleted or re-hashed after a head the registry (or an auditor) holds."""
    db = Database(Settings().database_path)
    with db.reading() as tx:
        problem = verify_anchored(tx, args.anchor)
        count = tx.execute("SELECT COUNT(*) FROM audit_events").fetchone()[0]
        anchors = tx.execute("SELECT COUNT(*) FROM audit_anchors").fetchone()[0]
    if problem is None:
        heads = anchors + len(args.anchor)
        print(f"rantai audit utuh: {count} peristiwa, mencapai {heads} kepala rantai yang dijangkarkan\n"
              f"audit chain intact: {count} events, reaching {heads} anchored heads")  # fmt: skip
        return 0
    print(f"rantai audit rusak pada peristiwa {problem.seq}: {problem.reason_id}\n"
          f"audit chain broken at event {problem.seq}: {problem.reason}")  # fmt: skip
    return 1


def audit_head(_args: argparse.Namespace) -> int:
    """Print the chain's head as SEQ:HASH, for an auditor to keep and pass to `verify --anchor`."""
    with Database(Settings().database_path).reading() as tx:
        seq, digest = chain_head(tx)
    print(f"{seq}:{digest}")
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach the admin subcommands to the main parser."""
    gallery = sub.add_parser(
        "gallery", help="the running service's face gallery (signs in as a site admin)"
    ).add_subparsers(dest="action", required=True)
    for name, text, handler in (
        (
            "check",
            "compare the live gallery with the database; exit 1 if they differ",
            gallery_check,
        ),
        ("rebuild", "rebuild the live gallery from the database", gallery_rebuild),
    ):
        action = gallery.add_parser(
            name,
            help=text,
            description=f"{text}. Signs in with GERBANG_USERNAME and GERBANG_PASSWORD (a site"
            " admin), or asks for them.",
        )
        action.add_argument(
            "--url", help="the service's address (default: http://EDGE_HOST:EDGE_PORT)"
        )
        action.set_defaults(handler=handler)

    again = sub.add_parser(
        "reembed",
        help="re-embed every kept image with another pack; resumable",
        description="Embed every kept enrolment image with PACK (resumable: run it again after an"
        " interruption). When every identity has a template in PACK, the site switches to it;"
        " restart the service to load it.",
    )
    again.add_argument("--pack", required=True, help="the pack to move the site to")
    again.add_argument(
        "--officer",
        help="who runs it, for the audit log (default: the login name)",
    )
    again.set_defaults(handler=reembed_command)

    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(
        dest="action", required=True
    )
    verify = audit.add_parser("verify", help="find any edited, deleted or reordered event")
    verify.add_argument("--anchor", type=_kept_head, action="append", default=[],
                        help="a head SEQ:HASH kept elsewhere (registry, auditor); repeatable")  # fmt: skip
    verify.set_defaults(handler=audit_verify)
    audit.add_parser("head", help="print the chain head as SEQ:HASH").set_defaults(
        handler=audit_head
    )

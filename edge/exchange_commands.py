"""`gerbang exchange export|import|list|decide|keygen`: inter-agency exchange (SPPT-TI) as
ANSI/NIST-ITL 1-2011 files, sealed for their receiver.

Both sign in at the console (GERBANG_USERNAME and GERBANG_PASSWORD, or asked for) against this
site's operator accounts: an export needs a supervisor or site admin, an import also an enrolment
officer. The signed-in operator is who the audit log names. Imports need the face models (the
faces go through the desk's quality and duplicate checks); stop `gerbang serve` first or restart
it after, as with `gerbang import`.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

from edge.import_command import archive_importer
from edge.settings import Settings
from edge.site import Site
from enrollment.accounts import check_operator
from enrollment.desk_guard import SUPERVISOR_ROLES
from enrollment.exchange.decisions import ImportDecider
from enrollment.exchange.exports import ExchangeExporter
from enrollment.exchange.imports import ExchangeImporter, held_imports
from enrollment.exchange.sealing import add_opening, add_protection, chosen, opened
from kernel import recipients
from kernel.access import Principal
from kernel.credentials import console_credentials
from kernel.errors import Forbidden, InputError, Message

EXPORT_ROLES = ("supervisor", "site_admin")
IMPORT_ROLES = ("enrolment_officer", "supervisor", "site_admin")


def signed_in(site: Site, roles: tuple[str, ...]) -> str:
    """The operator at the console, if their password is right and their role may do this."""
    return console_operator(site, roles).name


def console_operator(site: Site, roles: tuple[str, ...]) -> Principal:
    """As signed_in, with the operator's role (a supervisor signs the guarded decisions)."""
    username, password = console_credentials()
    principal, _ = check_operator(site.db, username, password)
    if principal.role not in roles:
        raise Forbidden(role=principal.role, allowed=list(roles))
    return principal


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise InputError(
            Message("Tanggal harus berbentuk YYYY-MM-DD.", "The date must read YYYY-MM-DD."),
            {"since": text},
        ) from exc


def export(args: argparse.Namespace) -> int:
    """Write one person's transaction, or one per admission and release since a date."""
    site = Site(Settings())
    try:
        actor = signed_in(site, EXPORT_ROLES)
        protection = chosen(args.to_key, args.passphrase_file, args.plain)
        exporter = ExchangeExporter(site.db, site.vault, site.settings.site_id, args.to)
        compression = args.finger_compression.upper()
        if args.person:
            results = [exporter.person(args.person, Path(args.out), actor, args.case_ref,
                                       compression, args.format, protection, args.minutiae)]  # fmt: skip
        else:
            results = exporter.since(_day(args.since), Path(args.out), actor, args.case_ref,
                                     compression, args.format, protection, args.minutiae)  # fmt: skip
    finally:
        site.close()
    for r in results:
        files = ", ".join(str(p) for p in r.paths)
        print(f"{files}: {r.faces} face, {r.fingers} finger images (sha256 {r.sha256})")
    sealing = protection.described.get("encryption", "none")
    print(f"exported {len(results)} transaction(s) as {actor}, sealed: {sealing}")
    return 0


def import_transaction(args: argparse.Namespace) -> int:
    """Hold a received transaction for the desk's decision; print whom it resembles."""
    site = Site(Settings())
    try:
        actor = signed_in(site, IMPORT_ROLES)
        site.load()
        if site.problem is not None:
            raise site.problem
        data = opened(Path(args.file).read_bytes(), args.key, args.passphrase_file)
        outcome = ExchangeImporter(archive_importer(site, actor).service).run(
            data, actor, args.case_ref
        )
    finally:
        site.close()
    print(json.dumps({
        "import_id": outcome.import_id, "session_id": outcome.session_id, "sender": outcome.sender,
        "tcn": outcome.tcn, "case_ref": outcome.case_ref, "faces": outcome.faces,
        "fingers": outcome.fingers, "candidates": outcome.candidates,
        "national_candidates": outcome.national_candidates,
    }, indent=2, default=str))  # fmt: skip
    print(
        f"held for a decision: nobody was created. Decide with `gerbang exchange decide"
        f" {outcome.import_id} --new|--same ID --reason ...`, or at the desk (session"
        f" {outcome.session_id})."
    )
    return 0


def decide(args: argparse.Namespace) -> int:
    """Enrol a held import as a new person or into the candidate it is, with the received fingers."""
    site = Site(Settings())
    try:
        operator = console_operator(site, IMPORT_ROLES)
        actor = operator.name
        site.load()
        if site.problem is not None:
            raise site.problem
        decider = ImportDecider(archive_importer(site, actor).service, site.fingers)
        supervisor = actor if operator.role in SUPERVISOR_ROLES else None  # an inmate look-alike
        outcome = decider.decide(args.import_id, args.same, args.reason, actor, supervisor)
    finally:
        site.close()
    verb = "created" if outcome.created else "added to"
    print(f"{verb} identity {outcome.identity_id}; fingerprints: {outcome.fingers_enrolled} enrolled,"
          f" {len(outcome.fingers_refused)} refused")  # fmt: skip
    for refused in outcome.fingers_refused:
        print(
            f"  impression {refused['impression']} (finger {refused['position']}): {refused['reasons']}"
        )
    return 0


def held(_: argparse.Namespace) -> int:
    """The imports waiting for a decision, oldest first."""
    site = Site(Settings())
    try:
        signed_in(site, IMPORT_ROLES)
        rows = held_imports(site.db)
    finally:
        site.close()
    for r in rows:
        names = ", ".join(c["identity_id"] for c in json.loads(r["candidates"])) or "none"
        print(f"{r['id']}  from {r['sender']} ({r['tcn']}), case {r['case_ref'] or '-'},"
              f" received {r['received_at']}; candidates: {names}")  # fmt: skip
    print(f"{len(rows)} import(s) waiting for a decision")
    return 0


def keygen(args: argparse.Namespace) -> int:
    """Make this agency's key pair: the public half goes to senders, the private half stays."""
    key_path, pub_path = recipients.generate(Path(args.out))
    public = recipients.read_public(pub_path)
    print(f"private key {key_path} (keep it; mode 0600), public key {pub_path}"
          f" (give it to senders), fingerprint {recipients.fingerprint(public)}")  # fmt: skip
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `exchange export|import` to the main parser."""
    exchange = sub.add_parser(
        "exchange", help="inter-agency exchange (SPPT-TI): ANSI/NIST-ITL 1-2011 files"
    ).add_subparsers(dest="action", required=True)
    out = exchange.add_parser(
        "export",
        help="export a person, or every admission and release since a date",
        description="Signs in with GERBANG_USERNAME and GERBANG_PASSWORD (a supervisor or site"
        " admin), or asks for them. Every export is in the audit log.",
    )
    which = out.add_mutually_exclusive_group(required=True)
    which.add_argument("--person", help="an identity id: write one file to --out")
    which.add_argument(
        "--since", help="YYYY-MM-DD: one file per inmate admitted or released since, into --out"
    )
    out.add_argument(
        "--out", required=True, help="the file (--person) or folder (--since) to write"
    )
    out.add_argument("--case-ref", help="the case the exchange is for (audited, and in 2.905)")
    out.add_argument("--to", default="SPPT-TI", help="destination agency (1.007 DAI)")
    out.add_argument(
        "--finger-compression", choices=["png", "none"], default="png",
        help="Type-14 images as the stored PNG (default) or raw 8-bit grey; no WSQ encoder here",
    )  # fmt: skip
    out.add_argument(
        "--format", choices=["ansi-nist", "iso"], default="ansi-nist",
        help="an ANSI/NIST-ITL 1-2011 transaction (default), or ISO/IEC 19794-5 and 19794-4"
        " records written to OUT.face.iso and OUT.finger.iso",
    )  # fmt: skip
    out.add_argument("--minutiae", action="store_true",
                     help="add Type-9 minutiae beside each Type-14 finger image")  # fmt: skip
    add_protection(out)
    out.set_defaults(handler=export)
    received = exchange.add_parser(
        "import",
        help="hold a received transaction for the desk's duplicate decision",
        description="Signs in with GERBANG_USERNAME and GERBANG_PASSWORD (an enrolment officer,"
        " supervisor or site admin). Nobody is created or merged: the desk decides.",
    )
    received.add_argument("file", help="the ANSI/NIST-ITL file received")
    received.add_argument("--case-ref", help="the case it is for (default: its field 2.905)")
    add_opening(received)
    received.set_defaults(handler=import_transaction)
    keys = exchange.add_parser(
        "keygen", help="make this agency's key pair for sealed exchange files",
        description="Writes PREFIX.key (private, 0600) and PREFIX.pub (for senders).",
    )  # fmt: skip
    keys.add_argument("--out", required=True, metavar="PREFIX", help="where to write the two files")
    keys.set_defaults(handler=keygen)
    exchange.add_parser("list", help="imports waiting for a decision").set_defaults(handler=held)
    decision = exchange.add_parser(
        "decide",
        help="enrol a held import: a new person, or the same person as a candidate",
        description="Every candidate is answered (--new: all 'different person'; --same ID: that"
        " one 'same person', the rest 'different'), through the desk's own commit; then the"
        " received fingerprints are enrolled through their quality check.",
    )
    decision.add_argument("import_id", help="as `exchange import` or `exchange list` printed it")
    answer = decision.add_mutually_exclusive_group(required=True)
    answer.add_argument("--new", action="store_true", help="a person not known here")
    answer.add_argument("--same", metavar="IDENTITY_ID", help="the candidate this person is")
    decision.add_argument("--reason", required=True, help="why (audited; required)")
    decision.set_defaults(handler=decide)

"""`gerbang registry exchange export|import|list|decide`: the national records in SPPT-TI files.

An officer signs in at the console (GERBANG_USERNAME and GERBANG_PASSWORD, or asked for) with a
central account: an adjudicator or central admin. Exports are sealed as at a site (--to-key,
--passphrase-file, or --plain by name); an import searches the received faces against the national
gallery (with the face models of the registry's pack, REGISTRY_MODEL_DIR, loaded only when the
file has faces) and its Type-9 minutiae against the national finger index.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from enrollment.exchange.sealing import add_opening, add_protection, chosen, opened
from kernel.credentials import console_credentials
from kernel.errors import Forbidden
from registry import exchange
from registry.accounts import CENTRAL
from registry.exchange_search import received_probes, search_received

if TYPE_CHECKING:
    from models.engine import FaceEngine
    from registry.service import RegistryService


def _service() -> RegistryService:
    from registry.cli import _service as ready_service

    return ready_service()


def signed_in(service: RegistryService) -> str:
    """The central officer at the console (throttled like any sign-in), if their role may."""
    username, password = console_credentials()
    token, officer = service.login(username, password, source="console")
    service.logout(token, officer)  # the console needs no session beyond this command
    if officer.role not in CENTRAL:
        raise Forbidden(role=officer.role, allowed=sorted(CENTRAL))
    return officer.username


def _engine(service: RegistryService) -> FaceEngine:
    """The registry's pack, loaded only by an import (the rest of the console needs no models)."""
    from models.engine import EngineOptions
    from models.loader import EngineSpec, RuntimeChoice
    from models.manifest import load_packs
    from models.obtain import ensure_converted
    from models.runtime import choose_providers
    from models.store import ModelStore

    settings = service.settings
    packs = load_packs(settings.model_dir)
    spec = EngineSpec(
        ModelStore(settings.model_dir, settings.model_cache_dir),
        packs[service.policy.pack_id],
        RuntimeChoice(choose_providers()),
        EngineOptions(),
        liveness=False,  # received photos are photos of photos: liveness means nothing here
    )
    ensure_converted(spec.store, spec.pack)  # the dlib recogniser, converted once as at a site
    return spec.build()


def export(args: argparse.Namespace) -> int:
    """Write one national record, sealed for its receiver, and audit it."""
    service = _service()
    officer = signed_in(service)
    protection = chosen(args.to_key, args.passphrase_file, args.plain)
    out = Path(args.out)
    service.vault.ready()  # before the transaction: the keys load on their own connection
    with service.db.transaction() as tx:
        result = exchange.export_person(tx, args.identity, out, officer, service.settings.agency,
                                        args.to, args.case_ref, protection, service.vault)  # fmt: skip
    exchange.finish(result)
    sealing = protection.described.get("encryption", "none")
    print(f"{out}: {result.faces} face, {result.minutiae} minutiae records (sha256 {result.sha256}),"
          f" sealed: {sealing}, as {officer}")  # fmt: skip
    return 0


def import_transaction(args: argparse.Namespace) -> int:
    """Search a received transaction's faces and prints nationally; hold it for an adjudicator."""
    service = _service()
    officer = signed_in(service)
    t, digest = exchange.received(
        opened(Path(args.file).read_bytes(), args.key, args.passphrase_file)
    )
    fingers_on = service.gallery.fingers is not None
    probes = received_probes(t, lambda: _engine(service), fingers_on)
    service.start()  # the national gallery and finger index, loaded for this search
    case_ref = args.case_ref or t.person.case_ref
    found = search_received(service, probes, officer, t.tcn)
    with service.db.transaction() as tx:
        import_id = exchange.record_import(tx, t, digest, officer, case_ref, found.candidates,
                                           found.finger_views)  # fmt: skip
    print(json.dumps({"import_id": import_id, "sender": t.sender, "tcn": t.tcn, "case_ref": case_ref,
                      "faces": len(t.faces), "faces_refused": probes.refused,
                      "finger_views": found.finger_views,
                      "threshold": found.face["threshold"] if found.face else None,
                      "finger": found.finger, "candidates": found.candidates},
                     indent=2, default=str))  # fmt: skip
    print(f"held for an adjudicator: decide with `gerbang registry exchange decide {import_id}"
          " --same IDENTITY_ID|--none --reason ...`")  # fmt: skip
    return 0


def decide(args: argparse.Namespace) -> int:
    """Answer an import: the national identity it is, or nobody held nationally."""
    service = _service()
    officer = signed_in(service)
    with service.db.transaction() as tx:
        exchange.decide(tx, args.import_id, args.same, args.reason, officer)
    print(f"import {args.import_id}: " + (f"same as {args.same}" if args.same else "nobody here"))
    return 0


def held(_: argparse.Namespace) -> int:
    """Imports waiting for an adjudicator."""
    service = _service()
    signed_in(service)
    with service.db.transaction() as tx:
        rows = exchange.pending(tx)
    for r in rows:
        names = ", ".join(f"{c['identity_id']} ({'+'.join(c.get('found_by', ['face']))})"
                          for c in json.loads(r["candidates"])) or "none"  # fmt: skip
        print(f"{r['id']}  from {r['sender']} ({r['tcn']}), case {r['case_ref'] or '-'};"
              f" candidates: {names}")  # fmt: skip
    print(f"{len(rows)} import(s) waiting for a decision")
    return 0


def add_parsers(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`registry exchange ...`."""
    group = actions.add_parser(
        "exchange", help="SPPT-TI exchange of national records (ANSI/NIST-ITL 1-2011)"
    ).add_subparsers(dest="exchange_command", required=True)
    out = group.add_parser("export", help="write one national record, sealed for its receiver")
    out.add_argument("--identity", required=True, help="the national identity id")
    out.add_argument("--out", required=True, help="the file to write")
    out.add_argument("--case-ref", help="the case the exchange is for (audited, and in 2.905)")
    out.add_argument("--to", default="SPPT-TI", help="destination agency (1.007 DAI)")
    add_protection(out)
    out.set_defaults(handler=export)
    into = group.add_parser(
        "import", help="search a received transaction's faces and fingers nationally; hold it"
    )
    into.add_argument("file", help="the ANSI/NIST-ITL file received")
    into.add_argument("--case-ref", help="the case it is for (default: its field 2.905)")
    add_opening(into)
    into.set_defaults(handler=import_transaction)
    group.add_parser("list", help="imports waiting for an adjudicator").set_defaults(handler=held)
    answer = group.add_parser("decide", help="answer an import: the candidate it is, or none")
    answer.add_argument("import_id")
    which = answer.add_mutually_exclusive_group(required=True)
    which.add_argument("--same", metavar="IDENTITY_ID", help="the candidate this person is")
    which.add_argument("--none", action="store_true", help="nobody held nationally")
    answer.add_argument("--reason", required=True, help="why (audited; required)")
    answer.set_defaults(handler=decide)

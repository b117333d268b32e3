"""`gerbang registry audit verify | checkpoint | checkpoints | site-heads`: the audit trail at
the console, and what an auditor keeps away from the registry to check it later.

`checkpoints --out FILE` exports the signed checkpoints (JSON lines); `verify --checkpoints
FILE` checks the chain's links, then that it still holds every stored and kept checkpoint (so
deleting the newest events or re-hashing the chain is found). `site-heads` prints each site's
audit chain head as the registry holds it (SEQ:HASH), for `gerbang audit verify --anchor` at
the site.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.service import RegistryService

ServiceMaker = Callable[[], "RegistryService"]


def _read_kept(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def audit_verify(service: RegistryService, args: argparse.Namespace) -> int:
    """Check the hash chain, then the checkpoints; exit 1 naming the first event that breaks."""
    report = service.verify_audit()
    if report.broken is not None:
        print(f"rantai audit RUSAK pada peristiwa {report.broken.event_id}"
              f" ({report.checked} peristiwa sebelumnya benar)\n"
              f"audit chain BROKEN at event {report.broken.event_id}: {report.broken.reason}\n"
              f"({report.checked} events verified before it)")  # fmt: skip
        return 1
    anchored = service.verify_checkpoints(_read_kept(args.checkpoints))
    if anchored.broken is not None:
        print(f"rantai audit RUSAK pada peristiwa {anchored.broken.event_id}: tidak sesuai"
              " titik periksa yang ditandatangani\n"
              f"audit chain BROKEN at event {anchored.broken.event_id}: {anchored.broken.reason}")  # fmt: skip
        return 1
    print(f"rantai audit utuh: {report.checked} peristiwa diperiksa, kepala {report.head},"
          f" {anchored.checked} titik periksa bertanda tangan terpenuhi\n"
          f"audit chain intact: {report.checked} events verified, head {report.head},"
          f" {anchored.checked} signed checkpoints held")  # fmt: skip
    if report.unchained:
        print(f"{report.unchained} older events precede the chain and carry no hash")
    return 0


def audit_checkpoint(service: RegistryService, _: argparse.Namespace) -> int:
    """Sign a checkpoint now and print it (nothing new since the last one: say so)."""
    checkpoint = service.checkpoint_audit()
    print(json.dumps(checkpoint) if checkpoint else "no new audit events since the last checkpoint")
    return 0


def audit_checkpoints(service: RegistryService, args: argparse.Namespace) -> int:
    """Export every signed checkpoint as JSON lines (to a file, or printed)."""
    text = "".join(json.dumps(c, sort_keys=True) + "\n" for c in service.audit_checkpoints())
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"{text.count(chr(10))} checkpoints written to {args.out}")
    else:
        print(text, end="")
    return 0


def site_heads(service: RegistryService, _: argparse.Namespace) -> int:
    """Each site's audit chain head as last accepted: `SITE SEQ:HASH`."""
    with service.db.transaction() as tx:
        rows = tx.execute("SELECT id, audit_head FROM sites ORDER BY id").fetchall()
    for row in rows:
        head = row["audit_head"]
        print(f"{row['id']} {head['seq']}:{head['hash']}" if head else f"{row['id']} -")
    return 0


def add_audit_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], service: ServiceMaker
) -> None:
    """`gerbang registry audit ...`."""
    audit = actions.add_parser("audit", help="the registry's audit trail").add_subparsers(
        dest="audit_command", required=True
    )

    def bound(handler: Callable[[RegistryService, argparse.Namespace], int]) -> Any:
        return lambda args: handler(service(), args)

    verify = audit.add_parser(
        "verify", help="check the chain and its checkpoints; exit 1 at a break"
    )
    verify.add_argument("--checkpoints", type=Path, help="checkpoints an auditor kept (JSON lines)")
    verify.set_defaults(handler=bound(audit_verify))
    audit.add_parser("checkpoint", help="sign a checkpoint of the chain now").set_defaults(
        handler=bound(audit_checkpoint)
    )
    export = audit.add_parser("checkpoints", help="export the signed checkpoints (JSON lines)")
    export.add_argument("--out", type=Path, help="write to this file instead of printing")
    export.set_defaults(handler=bound(audit_checkpoints))
    audit.add_parser("site-heads", help="each site's audit head (SEQ:HASH)").set_defaults(
        handler=bound(site_heads)
    )

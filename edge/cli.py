"""The site's commands under `gerbang` (console/main.py is the entry point); they grow with each capability.

serve                      run the site service (HTTP API) on the configured host and port
models list|verify|fetch|convert   see, check and obtain the files of the model packs
models bundle | install    carry packs to a site without internet in one checked file
embed PATH... --out F.npz  embed every image (folders recursively) with all cores
search-batch --gallery G.csv --probes P.csv --out R.csv  1:N as the service decides it
eval DIR [--open-set]      accuracy per pack on a folder-per-identity photo set, with a DET plot
                           (--open-set: FNIR at fixed FPIR by gallery size and population)
calibrate DIR              build a pack's calibration file (thresholds at target FMRs)
operators add | devices add|rekey|list  accounts for officers and gate terminals (rekey: a new key)
gate add | list            configure the site's gates (as POST /v1/gates does), and see them
gate run                   a gate camera deciding passages until Ctrl-C
gallery check | rebuild    ask the running service to compare its gallery with the database, or rebuild it
reembed --pack P           re-embed every kept image with another pack; the site switches when complete
audit verify [--anchor S:H] find any edited, deleted, truncated or re-hashed audit event
audit head                 print the audit chain head (SEQ:HASH) for an auditor to keep
exchange export|import     inter-agency exchange (SPPT-TI) as ANSI/NIST-ITL 1-2011 files
doctor                     check everything the site needs, with fixes in both languages
backup | restore           a running site to one sealed file, and back into a data folder
recover                    a dead site: its last backup, then its people from the registry

Settings come from EDGE_* environment variables (see README); flags override a few of them.
"""

from __future__ import annotations

import argparse

from edge import (
    admin_commands,
    backup_cli,
    commands,
    daily_report,
    device_commands,
    exchange_commands,
    finger_commands,
    import_command,
    key_commands,
    operator_commands,
    search_batch,
    sync_cli,
)
from edge.gate import cli as gate_cli


def _models_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="list, verify, fetch or convert model files")
    actions = models.add_subparsers(dest="action", required=True)
    for name, text in (
        ("list", "packs and the state of each file"),
        ("verify", "check every file's sha256; exit 1 if any pack in use is incomplete"),
        ("fetch", "download and verify the files of a pack (needs internet)"),
        ("convert", "convert PyPI-packaged models (the dlib ResNet) to ONNX, once, verified"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--pack",
            help="a pack id (default: the pack in use, EDGE_PACK until `reembed` switches it;"
            " `list`: all)",
        )
        action.set_defaults(handler=getattr(commands, f"models_{name}"))
    bundle = actions.add_parser("bundle", help="write packs and their manifest to one file (USB)")
    bundle.add_argument(
        "--pack", action="append", help="a pack id, repeatable (default: the pack in use)"
    )
    bundle.add_argument("--out", required=True, help="the bundle file to write")
    bundle.set_defaults(handler=commands.models_bundle)
    install = actions.add_parser("install", help="check every digest of a bundle, then install it")
    install.add_argument("file", help="a bundle written by `gerbang models bundle`")
    install.add_argument("--to", help="model folder to install into (default: EDGE_MODEL_DIR)")
    install.set_defaults(handler=commands.models_install)


def _open_set_flags(evaluate: argparse.ArgumentParser) -> None:
    group = evaluate.add_argument_group("open-set identification (--open-set)")
    group.add_argument(
        "--open-set",
        action="store_true",
        help="galleries of enrolled people searched by mated and non-mated photos: FNIR at "
        "FPIR 10/3/1/0.3%%, rank-1/5/10, DET of FNIR against FPIR",
    )
    group.add_argument(
        "--gallery-sizes",
        default="100,500,2000",
        help="people enrolled (larger than the set: modelled)",
    )
    group.add_argument("--captures", default="1,3", help="captures per enrolled person (K)")
    group.add_argument(
        "--templates",
        default="mean,max",
        help="identity templates: mean, max, qmean (quality-weighted)",
    )
    group.add_argument(
        "--group",
        action="append",
        help="a population NAME=prefix[,prefix] of identity names, repeatable",
    )
    group.add_argument("--repeats", type=int, default=5, help="seeded trials per measured row")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--tail",
        choices=("normal", "empirical"),
        default="normal",
        help="impostor tail model for galleries larger than the set",
    )
    group.add_argument(
        "--embeddings", help="an .npz cache of the set's embeddings (read or written)"
    )
    group.add_argument("--out", help="the JSON report to write")


def _batch_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    embed = sub.add_parser("embed", help="embed images into an .npz archive")
    embed.add_argument("paths", nargs="*", help="image files or folders (searched recursively)")
    embed.add_argument("--list", dest="list_file", help="a file with one image path per line")
    embed.add_argument("--out", required=True, help="the .npz file to write")
    embed.add_argument("--workers", type=int, help="processes (default: physical cores)")
    embed.add_argument("--pack", help="pack id (default: the pack in use)")
    embed.set_defaults(handler=commands.embed)
    search_batch.add_parser(sub)

    evaluate = sub.add_parser("eval", help="accuracy on a folder-per-identity photo set")
    evaluate.add_argument("dir", help="folder with one sub-folder of photos per identity")
    evaluate.add_argument(
        "--pack", action="append", help="pack id, repeatable (default: the pack in use)"
    )
    evaluate.add_argument("--plot", default="det.png", help="DET plot to write (PNG)")
    evaluate.add_argument(
        "--by-source", action="store_true", help="also report per <source>- prefix"
    )
    evaluate.add_argument("--workers", type=int, help="processes (default: physical cores)")
    _open_set_flags(evaluate)
    evaluate.set_defaults(handler=commands.evaluate)

    calibrate = sub.add_parser("calibrate", help="build a pack's calibration from a photo set")
    calibrate.add_argument("dir", help="folder with one sub-folder of photos per identity")
    calibrate.add_argument("--pack", help="pack id (default: the pack in use)")
    calibrate.add_argument(
        "--out", help="file to write (default: <data dir>/calibrations/<pack>.json)"
    )
    calibrate.add_argument("--dataset", help="a sentence saying what the photo set is")
    calibrate.add_argument("--workers", type=int, help="processes (default: physical cores)")
    calibrate.set_defaults(handler=commands.calibrate)


DESCRIPTION = "Gerbang: edge biometric identity for correctional sites"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Every site subcommand."""
    serve = sub.add_parser("serve", help="run the site service")
    serve.add_argument("--host", help="override EDGE_HOST")
    serve.add_argument("--port", type=int, help="override EDGE_PORT")
    serve.set_defaults(handler=commands.serve)
    _models_parser(sub)
    _batch_parsers(sub)
    operator_commands.add_parsers(sub)
    admin_commands.add_parsers(sub)
    device_commands.add_parsers(sub)
    import_command.add_parser(sub)
    daily_report.add_parser(sub)
    exchange_commands.add_parsers(sub)
    finger_commands.add_parsers(sub)
    gate_cli.add_parsers(sub)
    sync_cli.add_parsers(sub)
    key_commands.add_parsers(sub)
    _tls_parser(sub)
    backup_cli.add_parsers(sub)
    doctor = sub.add_parser("doctor", help="check models, readers, TLS, disk, database, registry")
    doctor.add_argument("--camera", default="0", help="camera index or address to try (default 0)")
    doctor.set_defaults(handler=commands.doctor)


def _tls_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tls = sub.add_parser("tls", help="HTTPS: the site CA and server certificate")
    actions = tls.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="make the site CA (once) and a server certificate")
    init.add_argument("--host", action="append", help="a name or address clients use (repeatable)")
    init.add_argument("--out", help="folder to write (default: <EDGE_DATA_DIR>/tls)")
    init.set_defaults(handler=commands.tls_init)

"""`gerbang ...`: the site's commands and, under `gerbang registry ...`, the registry's.

Thread settings are made here, at the entry point, before NumPy loads: the fingerprint matcher
(MCC) multiplies small matrices many times, and OpenBLAS's thread team took one comparison from
1 ms to 7 ms on a busy 2-core box.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

# argparse's own messages, said in Indonesian too: (pattern on its English text, template).
USAGE_MESSAGES = (
    (r"the following arguments are required: (?P<x>.+)", "argumen berikut wajib diisi: {x}"),
    (r"unrecognized arguments: (?P<x>.+)", "argumen tidak dikenal: {x}"),
    (r"argument (?P<a>\S+): invalid choice: (?P<x>.+?) \(choose from (?P<c>.+)\)",
     "argumen {a}: pilihan {x} tidak dikenal (pilih dari {c})"),
    (r"argument (?P<a>\S+): invalid (?P<t>\w+) value: (?P<x>.+)",
     "argumen {a}: nilai {x} bukan {t} yang sah"),
    (r"argument (?P<a>\S+): expected one argument", "argumen {a}: perlu satu nilai"),
)  # fmt: skip


def in_indonesian(message: str) -> str:
    """argparse's English message in Indonesian, where it is one of the common ones."""
    for pattern, template in USAGE_MESSAGES:
        found = re.fullmatch(pattern, message)
        if found:
            named = {**found.groupdict()}
            if "t" in named:
                named["t"] = {"int": "bilangan bulat", "float": "angka"}.get(named["t"], named["t"])
            return template.format(**named)
    return f"perintah tidak dapat dibaca ({message})"


class CommandParser(argparse.ArgumentParser):
    """argparse, its usage errors said in Indonesian and English with a stable code (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        help_hint = f"{self.prog} --help"
        self.exit(
            2,
            f"error [usage_invalid]: {in_indonesian(message)}. Lihat: {help_hint}\n"
            f"  {message}. See: {help_hint}\n",
        )


def quiet_blas_threads() -> None:
    """One BLAS thread per process unless the operator says otherwise; call before NumPy loads."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _registry_missing(_: argparse.Namespace) -> int:
    print(
        "error [registry_driver_missing]: the registry needs its database driver; "
        "install it with: pip install -e '.[registry]'",
        file=sys.stderr,
    )
    return 2


def _add_registry(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The registry's commands, or one that says how to install them on a site-only install."""
    try:
        from registry import cli as registry_cli
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        stub = sub.add_parser("registry", help="the central registry (needs the registry extra)")
        stub.add_argument("rest", nargs=argparse.REMAINDER)
        stub.set_defaults(handler=_registry_missing)
        return
    registry_cli.add_parsers(sub)


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree."""
    from edge import cli as site_cli

    parser = CommandParser(prog="gerbang", description=site_cli.DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    site_cli.add_parsers(sub)
    _add_registry(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; Gerbang errors print their code and message, not a traceback."""
    quiet_blas_threads()
    from kernel.errors import GerbangError

    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except GerbangError as exc:
        print(f"error [{exc.code}]: {exc.message.id}\n  {exc.message.en}", file=sys.stderr)
        for key, value in exc.details.items():
            print(f"  {key}: {value}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

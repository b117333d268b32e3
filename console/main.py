"""`gerbang ...`: the site's commands and, under `gerbang registry ...`, the registry's.

Thread settings are made here, at the entry point, before NumPy loads: the fingerprint matcher
(MCC) multiplies small matrices many times, and OpenBLAS's thread team took one comparison from
1 ms to 7 ms on a busy 2-core box.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from kernel.errors import GerbangError, Message, Unavailable

# argparse's own messages, said in Indonesian too: (pattern on its English text, template).
USAGE_MESSAGES = (
    (r"the following arguments are required: (?P<x>.+)", "argumen berikut wajib diisi: {x}"),
    (r"unrecognized arguments: (?P<x>.+)", "argumen tidak dikenal: {x}"),
    (r"argument command: invalid choice: (?P<x>.+?) \(choose from (?P<c>.+)\)",
     "perintah {x} tidak dikenal (pilih dari {c})"),
    (r"argument (?P<a>\S+): invalid choice: (?P<x>.+?) \(choose from (?P<c>.+)\)",
     "argumen {a}: pilihan {x} tidak dikenal (pilih dari {c})"),
    (r"argument (?P<a>\S+): invalid (?P<t>\w+) value: (?P<x>.+)",
     "argumen {a}: nilai {x} bukan {t} yang sah"),
    (r"argument (?P<a>\S+): expected one argument", "argumen {a}: perlu satu nilai"),
    # the few checks of our own (argparse types raising ArgumentTypeError)
    (r"argument (?P<a>\S+): must be above zero, got (?P<x>.+)",
     "argumen {a}: harus lebih dari nol, bukan {x}"),
    (r"argument (?P<a>\S+): must be at least 1, got (?P<x>.+)",
     "argumen {a}: paling sedikit 1, bukan {x}"),
    (r"argument (?P<a>\S+): must be between (?P<lo>\d+) and (?P<hi>\d+)",
     "argumen {a}: harus antara {lo} dan {hi}"),
    (r"argument (?P<a>\S+): expected SEQ:HASH \(as `gerbang audit head` prints\)",
     "argumen {a}: harus berbentuk SEQ:HASH (seperti keluaran `gerbang audit head`)"),
)  # fmt: skip
TYPE_NAMES = {"int": "bilangan bulat", "float": "angka"}
SUBCOMMAND = "command"  # how a group of subcommands is named in usage lines and errors
REGISTRY_INSTALL = "pip install -e '.[registry]'"
CHOSEN = "_chosen_parser"  # the namespace attribute naming the deepest subcommand parser


def in_indonesian(message: str) -> str:
    """argparse's English message in Indonesian, where it is one of the common ones."""
    for pattern, template in USAGE_MESSAGES:
        found = re.fullmatch(pattern, message)
        if found:
            named = {**found.groupdict()}
            if "t" in named:
                named["t"] = TYPE_NAMES.get(named["t"], named["t"])
            if "x" in named and pattern.startswith("the following"):
                named["x"] = re.sub(rf"\b{SUBCOMMAND}\b", "perintah", named["x"])
            return template.format(**named)
    return f"perintah tidak dapat dibaca ({message})"


class CommandParser(argparse.ArgumentParser):
    """argparse, its usage errors said in Indonesian and English with a stable code (exit 2).

    An argument no parser knows is reported by the deepest subcommand chosen (its usage, its
    --help), not by the top level; groups of subcommands are called "command", not by their dest.
    """

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        message = self._naming_commands(message)
        help_hint = f"{self.prog} --help"
        self.exit(
            2,
            f"error [usage_invalid]: {in_indonesian(message)}. Lihat: {help_hint}\n"
            f"  {message}. See: {help_hint}\n",
        )

    def _naming_commands(self, message: str) -> str:
        """A missing subcommand is named with the choices, which the usage line no longer lists."""
        missing = re.fullmatch(r"the following arguments are required: (?P<x>.+)", message)
        for action in self._actions:
            if (isinstance(action, argparse._SubParsersAction) and action.metavar == SUBCOMMAND
                    and missing and SUBCOMMAND in missing["x"].split(", ")):  # fmt: skip
                return f"{message} ({', '.join(action.choices)})"
        return message

    def add_subparsers(self, **kwargs: Any) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        """As argparse's, named "command" in usage lines and errors unless given a metavar."""
        kwargs.setdefault("metavar", SUBCOMMAND)
        return super().add_subparsers(**kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's; the namespace also names the deepest parser that took part."""
        parsed, extras = super().parse_known_args(args, namespace)
        if not hasattr(parsed, CHOSEN):  # a subcommand's parser finishes before its parent's
            setattr(parsed, CHOSEN, self)
        return parsed, extras

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but unknown arguments are reported by the subcommand they were given to."""
        parsed, extras = self.parse_known_args(args, namespace)
        chosen: argparse.ArgumentParser = vars(parsed).pop(CHOSEN, self)
        if extras:
            chosen.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def quiet_blas_threads() -> None:
    """One BLAS thread per process unless the operator says otherwise; call before NumPy loads."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


class RegistryDriverMissing(Unavailable):
    code = "registry_driver_missing"
    message = Message(
        f"Perintah registri pusat memerlukan driver basis datanya (psycopg), yang belum terpasang"
        f" di sini. Pasang dengan: {REGISTRY_INSTALL}",
        f"The central registry's commands need its database driver (psycopg), which is not"
        f" installed here. Install it with: {REGISTRY_INSTALL}",
    )


def _registry_missing(_: argparse.Namespace) -> int:
    raise RegistryDriverMissing()


def _add_registry(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The registry's commands, or one that says how to install them on a site-only install."""
    try:
        from registry import cli as registry_cli
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("psycopg"):
            raise
        missing = RegistryDriverMissing.message
        stub = sub.add_parser(
            "registry",
            help=f"the central registry (not installed: {REGISTRY_INSTALL})",
            description=f"{missing.id}\n{missing.en}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        stub.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
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


def _run(argv: Sequence[str] | None) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; Gerbang errors print their code and message, not a traceback.

    Output piped into a reader that stops early (`gerbang models list | head -1`) ends the
    command quietly with 141, as a shell reports a process ended by SIGPIPE (Python's "Note on
    SIGPIPE": stdout is pointed at devnull so that the flush at exit does not fail again).
    """
    quiet_blas_threads()
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())

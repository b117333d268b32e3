"""`gerbang ...`: the site's commands and, under `gerbang registry ...`, the registry's.

Thread settings are made here, at the entry point, before NumPy loads: the fingerprint matcher
(MCC) multiplies small matrices many times, and OpenBLAS's thread team took one comparison from
1 ms to 7 ms on a busy 2-core box.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence


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

    parser = argparse.ArgumentParser(prog="gerbang", description=site_cli.DESCRIPTION)
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

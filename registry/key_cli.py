"""`gerbang registry keys status | rotate`: the registry's data keys at the console.

`rotate` makes a new data key and re-seals every stored biometric under it page by page (each page
commits; run it again after a crash and it finishes). The registry keeps serving meanwhile. The
old key is kept to open anything another registry process sealed under it in the meantime; with
every registry process stopped, `rotate --drop-old` deletes it once a last pass finds it unused.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.service import RegistryService


def keys_status(service: RegistryService, _: argparse.Namespace) -> int:
    """The data keys (id, state, what wraps them) and any warning."""
    with service.db.transaction() as tx:
        rows = tx.execute("SELECT id, state, kek_kind FROM vault_keys ORDER BY id").fetchall()
    print(json.dumps({"keys": rows, "kek": service.vault.kek.kind,
                      "warnings": service.vault.warnings()}, default=str))  # fmt: skip
    return 0


def keys_rotate(service: RegistryService, args: argparse.Namespace) -> int:
    """A new data key; every stored biometric re-sealed under it; the old one deleted if asked."""
    from registry.journal import audit
    from registry.resealing import rotate

    service.vault.ready()
    result = rotate(service.db, service.vault, drop_old=args.drop_old)
    with service.db.transaction() as tx:
        audit(tx, "console", "vault.key_rotated", "registry", result)
    print(json.dumps(result))
    return 0


def add_key_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    service: Callable[[], RegistryService],
) -> None:
    """`gerbang registry keys ...`."""
    keys = actions.add_parser("keys", help="the registry's data keys (encryption at rest)")
    commands = keys.add_subparsers(dest="keys_command", required=True)

    def bound(handler: Callable[[RegistryService, argparse.Namespace], int]) -> Any:
        return lambda args: handler(service(), args)

    commands.add_parser("status", help="data keys and the KEK kind").set_defaults(
        handler=bound(keys_status)
    )
    rotation = commands.add_parser("rotate", help="new data key, re-seal everything under it")
    rotation.add_argument(
        "--drop-old", action="store_true",
        help="then delete the old keys (only with every registry process stopped)",
    )  # fmt: skip
    rotation.set_defaults(handler=bound(keys_rotate))

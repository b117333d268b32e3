"""`gerbang registry serve | sites add | accounts add`: the central registry at the console.

Settings come from REGISTRY_* variables (REGISTRY_DATABASE_URL first); the database is created
if it does not exist yet and migrated before anything else runs.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from gallery_sync.registry.accounts import REGISTRY_ROLES
from gallery_sync.registry.db import ensure_database, open_database
from gallery_sync.registry.settings import RegistrySettings


def _ready_settings() -> RegistrySettings:
    """Settings, with the database created and migrated."""
    settings = RegistrySettings()
    ensure_database(settings.database_url)
    open_database(settings.database_url).migrate()
    return settings


def serve(args: argparse.Namespace) -> int:
    """Run the registry's HTTP service until interrupted."""
    import uvicorn

    from gallery_sync.registry.app import create_registry_app

    settings = _ready_settings()
    app = create_registry_app(settings)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port)
    return 0


def sites_add(args: argparse.Namespace) -> int:
    """Register a site with the public key printed by its `new_site_key`."""
    from gallery_sync.registry.service import RegistryService

    service = RegistryService(_ready_settings())
    service.add_site(args.site_id, args.name, args.region, args.public_key, actor="console")
    print(f"site {args.site_id} ({args.name}, region {args.region}) registered")
    return 0


def _password(args: argparse.Namespace) -> str:
    """From stdin when asked (scripts), else prompted twice (never from a command-line flag)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise SystemExit("passwords differ")
    return first


def accounts_add(args: argparse.Namespace) -> int:
    """Create a central or regional officer account."""
    from gallery_sync.registry.service import RegistryService

    service = RegistryService(_ready_settings())
    service.add_account(args.username, args.role, _password(args), args.region)
    print(
        f"account {args.username} ({args.role}{', ' + args.region if args.region else ''}) created"
    )
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`gerbang registry ...`."""
    registry = sub.add_parser("registry", help="the central registry: serve, sites, accounts")
    actions = registry.add_subparsers(dest="registry_command", required=True)
    serve_parser = actions.add_parser("serve", help="run the registry's HTTP service")
    serve_parser.add_argument("--host", help="override REGISTRY_HOST")
    serve_parser.add_argument("--port", type=int, help="override REGISTRY_PORT")
    serve_parser.set_defaults(handler=serve)

    sites = actions.add_parser("sites", help="sites allowed to sync").add_subparsers(
        dest="sites_command", required=True
    )
    add_site = sites.add_parser("add", help="register a site and its Ed25519 public key")
    add_site.add_argument("site_id", help="the site's UPT code (its EDGE_SITE_ID)")
    add_site.add_argument("--name", required=True, help="the site's name")
    add_site.add_argument("--region", required=True, help="its regional office (Kanwil) code")
    add_site.add_argument("--public-key", required=True, help="base64 raw Ed25519 public key")
    add_site.set_defaults(handler=sites_add)

    officers = actions.add_parser("accounts", help="officer accounts").add_subparsers(
        dest="accounts_command", required=True
    )
    add_account = officers.add_parser("add", help="create an officer account")
    add_account.add_argument("username")
    add_account.add_argument("--role", required=True, choices=REGISTRY_ROLES)
    add_account.add_argument("--region", help="Kanwil code (kanwil_monitor only, required there)")
    add_account.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    add_account.set_defaults(handler=accounts_add)

"""`gerbang registry serve | sites add|set-key|revoke-key | accounts add|list|passwd|disable|enable |
keys ... | exchange export|import|list|decide | backup | restore`:
the central registry at the console.

Settings come from REGISTRY_* variables (REGISTRY_DATABASE_URL first); the database is created
if it does not exist yet and migrated before anything else runs. Console changes are audited
with the actor `console`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from httpkit.tls import serve as serve_https
from kernel import account_console as said
from kernel.console_table import table
from kernel.credentials import ask_twice
from registry import backup_cli, exchange_cli, site_keys
from registry.accounts import REGISTRY_ROLES
from registry.audit_cli import add_audit_parsers
from registry.db import ensure_database, open_database
from registry.key_cli import add_key_parsers
from registry.settings import RegistrySettings

if TYPE_CHECKING:
    from registry.service import RegistryService


def _ready_settings() -> RegistrySettings:
    """Settings, with the database created and migrated (and sites' keys adopted once)."""
    settings = RegistrySettings()
    ensure_database(settings.database_url)
    database = open_database(settings.database_url)
    database.migrate()
    with database.transaction() as tx:
        site_keys.adopt_registered_keys(tx)
    return settings


def _service() -> RegistryService:
    """The registry's use cases over a ready database (the national gallery is not loaded)."""
    from registry.service import RegistryService

    return RegistryService(_ready_settings())


def serve(args: argparse.Namespace) -> int:
    """Run the registry's HTTP service until interrupted."""
    from registry.app import create_registry_app
    from registry.routes.health import PAGES

    settings = _ready_settings()
    host = args.host or settings.host
    serve_https(
        lambda: create_registry_app(settings),
        host,
        args.port or settings.port,
        settings.tls_dir,
        settings.tls,
        links=PAGES,
    )
    return 0


def sites_add(args: argparse.Namespace) -> int:
    """Register a site with the public key printed by its `new_site_key`."""
    _service().add_site(args.site_id, args.name, args.region, args.public_key, actor="console")
    print(f"UPT {args.site_id} ({args.name}, wilayah {args.region}) terdaftar\n"
          f"site {args.site_id} ({args.name}, region {args.region}) registered")  # fmt: skip
    return 0


def sites_set_key(args: argparse.Namespace) -> int:
    """Register a site's new key in place of its current one (after a revocation)."""
    answer = _service().sites.replace_key(args.site_id, args.public_key, "console", args.reason)
    print(f"UPT {answer['site_id']}: kunci baru terdaftar {answer['public_key']}\n"
          f"site {answer['site_id']}: new key registered {answer['public_key']}")  # fmt: skip
    return 0


def sites_revoke_key(args: argparse.Namespace) -> int:
    """Refuse a site's key from now on (default: every key it still has)."""
    answer = _service().sites.revoke_key(args.site_id, args.public_key, "console", args.reason)
    revoked = ", ".join(answer["revoked"])
    print(
        f"UPT {answer['site_id']}: dicabut {revoked}\nsite {answer['site_id']}: revoked {revoked}"
    )
    if answer["current_revoked"]:
        print("UPT ini kini tidak punya kunci yang dapat dipakai: daftarkan kunci baru dengan"
              " `gerbang registry sites set-key`\n"
              "the site has no usable key now: register a new one with"
              " `gerbang registry sites set-key`")  # fmt: skip
    return 0


def report(args: argparse.Namespace) -> int:
    """Print the daily consolidation report; with --fail-if-silent, exit 1 when a site is silent
    or refused (the registry refuses its key: it cannot be in touch either)."""
    from registry.accounts import Officer
    from registry.report_text import report_lines

    service = _service()
    role = "kanwil_monitor" if args.region else "central_admin"
    sites = service.site_reports(Officer("console", role, args.region))
    if args.json:
        print(json.dumps({"sites": sites}, indent=2, default=str))
    else:
        now = datetime.now(UTC)
        print("\n".join(report_lines(sites, now, service.settings.silent_after_hours)))
    out_of_touch = any(s["silent"] or s["access_refused"] for s in sites)
    return 1 if args.fail_if_silent and out_of_touch else 0


def _password(args: argparse.Namespace) -> str:
    """From stdin when asked (scripts), else prompted twice (never from a command-line flag)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return ask_twice("Password")


def accounts_add(args: argparse.Namespace) -> int:
    """Create a central or regional officer account."""
    _service().add_account(args.username, args.role, _password(args), args.region)
    what = f"{args.role}{', ' + args.region if args.region else ''}"
    print(f"akun {args.username} ({what}) dibuat\naccount {args.username} ({what}) created")
    return 0


ACCOUNT_COLUMNS = ("USERNAME", "ROLE", "REGION", "STATE", "CREATED (UTC)")
ACCOUNTS = "gerbang registry accounts"


def accounts_list(_args: argparse.Namespace) -> int:
    """Every account: username, role, region, active or disabled, when created (never a hash)."""
    listed = _service().list_accounts()
    if not listed:
        print("belum ada akun petugas: gerbang registry accounts add NAMA --role central_admin\n"
              "no officer account yet: gerbang registry accounts add NAME --role central_admin")  # fmt: skip
        return 0
    rows = [(a.username, a.role, a.region or "-", "active" if a.active else "disabled",
             a.created_at.strftime("%Y-%m-%d %H:%M")) for a in listed]  # fmt: skip
    print("\n".join(table([ACCOUNT_COLUMNS, *rows])))
    return 0


def accounts_passwd(args: argparse.Namespace) -> int:
    """Give an officer a new password; their sessions end and a sign-in lock lifts."""
    service = _service()
    service.check_account(args.username)  # an unknown name is said before a password is asked
    ended = service.set_password(args.username, _password(args))
    print(said.password_set(args.username, ended))
    return 0


def accounts_disable(args: argparse.Namespace) -> int:
    """Refuse an officer's sign-in and open sessions from now on."""
    changed, ended = _service().set_active(args.username, False)
    if changed:
        print(said.disabled(args.username, ended, ACCOUNTS))
    else:
        print(said.unchanged(args.username, False))
    return 0


def accounts_enable(args: argparse.Namespace) -> int:
    """Let a disabled officer sign in again (with the password they had)."""
    changed, _ = _service().set_active(args.username, True)
    print(said.enabled(args.username) if changed else said.unchanged(args.username, True))
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`gerbang registry ...`."""
    registry = sub.add_parser(
        "registry", help="the central registry: serve, sites, accounts, audit"
    )
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
    set_key = sites.add_parser("set-key", help="register a site's new key (after a revocation)")
    set_key.add_argument("site_id")
    set_key.add_argument("--public-key", required=True, help="base64 raw Ed25519 public key")
    set_key.add_argument("--reason", required=True, help="why, for the audit trail")
    set_key.set_defaults(handler=sites_set_key)
    revoke = sites.add_parser("revoke-key", help="refuse a site's key from now on")
    revoke.add_argument("site_id")
    revoke.add_argument("--reason", required=True, help="why, for the audit trail")
    revoke.add_argument("--public-key", help="only this key (default: every key the site has)")
    revoke.set_defaults(handler=sites_revoke_key)

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
    officers.add_parser(
        "list", help="every account: username, role, region, active or disabled, created"
    ).set_defaults(handler=accounts_list)
    said.add_account_actions(officers, ACCOUNTS, {
        "passwd": accounts_passwd, "disable": accounts_disable, "enable": accounts_enable,
    })  # fmt: skip

    daily = actions.add_parser("report", help="the daily consolidation report, per site")
    daily.add_argument("--region", help="only this Kanwil's sites")
    daily.add_argument("--json", action="store_true", help="the report as JSON")
    daily.add_argument(
        "--fail-if-silent",
        action="store_true",
        help="exit 1 when a site is silent or the registry refuses it (for cron)",
    )
    daily.set_defaults(handler=report)

    add_audit_parsers(actions, _service)
    add_key_parsers(actions, _service)
    exchange_cli.add_parsers(actions)
    backup_cli.add_parsers(actions)

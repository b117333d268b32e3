"""`gerbang sync keygen|rotate-key|run|status|clear-alarm|retry|drop`: the site agent from the console or cron.

    gerbang sync keygen                                   # once; register the printed key
    gerbang sync keygen --new                             # after a revocation: a fresh key
    gerbang sync rotate-key --registry URL                # a new key, registry first (site_key.py)
    gerbang sync run --registry https://registry.example  # push, pull, poll until Ctrl-C
    gerbang sync run --registry URL --once                # drain both ways and exit (cron, tests)
    gerbang sync drop 42 --reason "..." --actor budi      # give up a change the registry refused

The site key lives at <EDGE_DATA_DIR>/keys/site_ed25519.pem (0600). Run as its own process, the
agent changes the database only: the service's gallery is rebuilt from it on start, and
`gerbang gate run` follows database changes by itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
from dataclasses import asdict
from typing import Any

from edge.settings import Settings, site_settings
from edge.site import Site
from edge.sync_text import status_lines
from enrollment.db import Database
from enrollment.unit_of_work import unit_of_work
from gallery_sync.protocol import MAX_BATCH_CHANGES, load_site_key, new_site_key, public_key_text
from site_sync import dead_letters
from site_sync.agent import Registry, SiteAgent
from site_sync.site_key import key_path, replace_site_key, rotate_site_key, site_key
from site_sync.state import clear_alarm, summary
from site_sync.uplink import Backoff, RegistryClient

ONCE_ATTEMPTS = 6  # about a minute of backoff before a cron run gives up


def agent_for_site(site: Site, registry: Registry, **options: Any) -> SiteAgent:
    """An agent over a Site's database, whose live gallery (when loaded) follows pulled changes.

    Options are SiteAgent's keyword arguments (batch_size, backoff, max_attempts, sleep...).
    """
    key = site_key(site.settings)
    return SiteAgent(
        site.db, site.vault, site.settings.site_id, key, registry, site.projection, **options
    )


def keygen(args: argparse.Namespace) -> int:
    """Create the site key if absent (with --new: a fresh one in place of the current one);
    print the public key to register at the registry."""
    settings = site_settings()
    path = key_path(settings)
    if path.exists() and args.new:
        done = replace_site_key(path)
        _audit(settings, args.actor, "sync.key_replaced", {
            "public_key": done.public_key, "previous_key": done.previous_key,
            "backup": str(done.backup),
        })  # fmt: skip
        public = done.public_key
        print(f"new site key at {path}; the previous key is kept at {done.backup}")
        print("the registry refuses this site until the central admin registers the new key:")
        print(
            f"  gerbang registry sites set-key {settings.site_id} --public-key {public} --reason ..."
        )
    elif path.exists():
        public = public_key_text(load_site_key(path).public_key())
        print(f"site key already exists at {path}")
    else:
        public = new_site_key(path)
        print(f"site key created at {path}")
    print(f"site {settings.site_id} public key (register it at the registry):\n{public}")
    return 0


def rotate_key(args: argparse.Namespace) -> int:
    """Replace the site key: the registry accepts the new one first, then the site switches."""
    settings = site_settings()
    signer = site_key(settings)  # SiteKeyMissing, with the fix, when there is no key to rotate
    registry = RegistryClient.connect(
        args.registry, settings.site_id, signer, ca_file=settings.sync.registry_ca_file
    )
    try:
        done = rotate_site_key(signer.path, registry)
    finally:
        registry.close()
    _audit(settings, args.actor, "sync.key_rotated", {
        "public_key": done.public_key, "previous_key": done.previous_key,
        "registry_status": done.registry_status, "backup": str(done.backup),
    })  # fmt: skip
    print(
        f"site {settings.site_id} now signs with {done.public_key} (registry: {done.registry_status})"
    )
    print(f"the previous key is kept at {done.backup}")
    return 0


def _audit(settings: Settings, actor: str, action: str, details: dict[str, Any]) -> None:
    """A change of the site key, in the site's audit chain."""
    database = Database(settings.database_path)
    try:
        with unit_of_work(database) as uow:
            uow.audit(actor, action, settings.site_id, details)
    finally:
        database.close()


def run(args: argparse.Namespace) -> int:
    """Push then pull; with --once drain both ways and exit (1 when pushing was stopped)."""
    settings = site_settings()
    site = Site(settings)
    registry = RegistryClient.connect(
        args.registry, settings.site_id, site_key(settings), ca_file=settings.sync.registry_ca_file
    )
    agent = agent_for_site(
        site,
        registry,
        batch_size=args.batch_size,
        backoff=Backoff(cap_s=args.max_backoff),
        max_attempts=ONCE_ATTEMPTS if args.once else None,
    )
    try:
        if args.once:
            report = agent.run_once()
            print(json.dumps({"pushed": report.pushed, "pulled": report.pulled,
                              "push_problem": report.push_problem}, default=str))  # fmt: skip
            return 1 if report.push_problem else 0
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        agent.run_forever(args.poll, threading.Event())
        return 0
    finally:
        registry.close()
        site.close()


def status(args: argparse.Namespace) -> int:
    """Print cursors, backlog and alarms in words (both languages), or as JSON with --json."""
    settings = site_settings()
    site = Site(settings)
    try:
        state = summary(site.db)
    finally:
        site.close()
    if args.json:
        print(json.dumps(state, indent=2, default=str))
    else:
        print("\n".join(status_lines(settings.site_id, state, settings.sync.registry_url)))
    return 0


def clear(args: argparse.Namespace) -> int:
    """Resume pushing after a conflict was resolved at the registry."""
    site = Site(Settings())
    try:
        alarm = clear_alarm(site.db, args.actor, args.reason)
    finally:
        site.close()
    print("alarm dihapus; pengiriman dilanjutkan\nalarm cleared; pushing resumes" if alarm
          else "tidak ada alarm\nno alarm was set")  # fmt: skip
    return 0


def resolve(args: argparse.Namespace) -> int:
    """Retry or drop one change the registry refused (a dead letter); audited."""
    site = Site(Settings())
    try:
        action: dead_letters.Resolution = "retried" if args.action == "retry" else "dropped"
        letter = dead_letters.resolve(site.db, args.seq, action, args.actor, args.reason)
    finally:
        site.close()
    print(json.dumps(asdict(letter), indent=2, default=str))
    return 0


def _batch_size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= MAX_BATCH_CHANGES:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_BATCH_CHANGES}")
    return value


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `gerbang sync ...`."""
    sync = sub.add_parser("sync", help="push this site's changes to the registry, pull its own")
    actions = sync.add_subparsers(dest="action", required=True)
    keys = actions.add_parser("keygen", help="create the site key; print the public key")
    keys.add_argument(
        "--new",
        action="store_true",
        help="a fresh key in place of one the registry revoked (the old file is kept); the"
        " central admin then registers it with `gerbang registry sites set-key`",
    )
    keys.add_argument("--actor", default="console", help="who replaces it, for the audit log")
    keys.set_defaults(handler=keygen)
    rotating = actions.add_parser("rotate-key", help="replace the site key (registry first)")
    rotating.add_argument("--registry", required=True, help="the registry's base URL")
    rotating.add_argument("--actor", default="console", help="who rotates it, for the audit log")
    rotating.set_defaults(handler=rotate_key)
    runner = actions.add_parser("run", help="push then pull, then poll (or --once)")
    runner.add_argument("--registry", required=True, help="the registry's base URL")
    runner.add_argument("--once", action="store_true", help="drain both ways, then exit")
    runner.add_argument(
        "--batch-size", type=_batch_size, default=500, help="changes per batch (1..1000)"
    )
    runner.add_argument("--poll", type=float, default=30.0, help="seconds between rounds")
    runner.add_argument("--max-backoff", type=float, default=300.0, help="longest retry wait (s)")
    runner.set_defaults(handler=run)
    state = actions.add_parser("status", help="cursors, backlog, alarms, withheld changes")
    state.add_argument("--json", action="store_true", help="the raw summary as JSON, for machines")
    state.set_defaults(handler=status)
    clearing = actions.add_parser("clear-alarm", help="resume pushing after a resolved conflict")
    clearing.add_argument("--reason", required=True, help="what was resolved, for the audit log")
    clearing.add_argument("--actor", required=True, help="who clears it (an officer's name)")
    clearing.set_defaults(handler=clear)
    for name, what in (("retry", "send a withheld change again, as a new change"),
                       ("drop", "give up a withheld change")):  # fmt: skip
        resolving = actions.add_parser(name, help=f"{what} (see `sync status`: dead_letters)")
        resolving.add_argument("seq", type=int, help="the withheld change's outbox seq")
        resolving.add_argument("--reason", required=True, help="why, for the audit log")
        resolving.add_argument("--actor", required=True, help="who decides (an officer's name)")
        resolving.set_defaults(handler=resolve)

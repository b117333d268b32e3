"""`gerbang operators add|list|passwd|disable|enable`: officer accounts, on the database of
EDGE_DATA_DIR, for a site admin at the console.

    gerbang operators add sari --role gate_officer      # asks for the password twice
    gerbang operators list                              # username, name, role, state, created
    gerbang operators passwd sari                       # a forgotten password: a new one
    gerbang operators disable sari                      # an officer who left: refused at once
    gerbang operators enable sari                       # back again, with the same password

A new password or a disabled account ends the officer's sessions at once. The last active site
admin cannot be disabled. Passwords come from the prompt or, with --password-stdin, one line of
standard input: never from a command-line flag, and never printed or audited.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from edge.admin_commands import login_name
from edge.settings import Settings
from enrollment.accounts import OPERATOR_ROLES
from enrollment.db import Database
from enrollment.operators import OperatorRoster
from enrollment.unit_of_work import unit_of_work
from kernel import account_console as said
from kernel.console_table import table, utc_minute
from kernel.credentials import ask_twice

COLUMNS = ("USERNAME", "FULL NAME", "ROLE", "STATE", "CREATED (UTC)")
OPERATORS = "gerbang operators"


def _password(args: argparse.Namespace) -> str:
    """From stdin when asked (scripts), else prompted twice (never from a command-line flag)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return ask_twice("Password")


def _database() -> Database:
    return Database(Settings().database_path)


def operators_add(args: argparse.Namespace) -> int:
    """Create an operator account."""
    password = _password(args)  # asked before the write lock: the service keeps working meanwhile
    with closing(_database()) as db, unit_of_work(db) as uow:
        operator_id = uow.accounts.add_operator(
            args.username, args.full_name or args.username, args.role, password, login_name()
        )
    print(f"akun petugas {args.username} ({args.role}) dibuat: {operator_id}\n"
          f"operator {args.username} ({args.role}) created: {operator_id}")  # fmt: skip
    return 0


def operators_list(_args: argparse.Namespace) -> int:
    """Every account: username, full name, role, active or disabled, when created (never a hash)."""
    with closing(_database()) as db, db.reading() as tx:
        operators = OperatorRoster(tx).operators()
    if not operators:
        print("belum ada akun petugas: gerbang operators add NAMA --role site_admin\n"
              "no officer account yet: gerbang operators add NAME --role site_admin")  # fmt: skip
        return 0
    rows = [(o.username, o.full_name, o.role, "active" if o.active else "disabled",
             utc_minute(o.created_at)) for o in operators]  # fmt: skip
    print("\n".join(table([COLUMNS, *rows])))
    return 0


def operators_passwd(args: argparse.Namespace) -> int:
    """Give an officer a new password; every session they have open ends."""
    with closing(_database()) as db:
        with db.reading() as tx:  # an unknown name is said before a password is asked for
            OperatorRoster(tx).check_exists(args.username)
        password = _password(args)  # asked outside the write lock: the service keeps working
        with db.transaction() as tx:
            ended = OperatorRoster(tx).set_password(args.username, password, login_name())
    print(said.password_set(args.username, ended))
    return 0


def operators_disable(args: argparse.Namespace) -> int:
    """Refuse an officer's sign-in and open sessions from now on."""
    with closing(_database()) as db, db.transaction() as tx:
        changed, ended = OperatorRoster(tx).set_active(args.username, False, login_name())
    if changed:
        print(said.disabled(args.username, ended, OPERATORS))
    else:
        print(said.unchanged(args.username, False))
    return 0


def operators_enable(args: argparse.Namespace) -> int:
    """Let a disabled officer sign in again (with the password they had)."""
    with closing(_database()) as db, db.transaction() as tx:
        changed, _ = OperatorRoster(tx).set_active(args.username, True, login_name())
    print(said.enabled(args.username) if changed else said.unchanged(args.username, True))
    return 0


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Attach `operators add|list|passwd|disable|enable` to the main parser."""
    operators = sub.add_parser("operators", help="operator accounts").add_subparsers(
        dest="action", required=True
    )
    add = operators.add_parser("add", help="create an operator")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=OPERATOR_ROLES)
    add.add_argument("--full-name")
    _password_option(add)
    add.set_defaults(handler=operators_add)
    operators.add_parser(
        "list", help="every account: username, full name, role, active or disabled, created"
    ).set_defaults(handler=operators_list)
    said.add_account_actions(operators, OPERATORS, {
        "passwd": operators_passwd, "disable": operators_disable, "enable": operators_enable,
    })  # fmt: skip

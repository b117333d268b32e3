"""What the console says and takes when an officer account changes, at the site (`gerbang
operators`) and at the registry (`gerbang registry accounts`): the same words, Indonesian first,
and the same `passwd | disable | enable USERNAME` commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
ACTIONS = (
    ("passwd", "set a new password; the officer's open sessions end"),
    ("disable", "refuse an officer's sign-in and open sessions from now on"),
    ("enable", "let a disabled officer sign in again"),
)


def password_set(username: str, ended: int) -> str:
    """After a new password: the sessions that ended."""
    return (
        f"kata sandi baru untuk {username} disimpan; {ended} sesi berakhir, masuk lagi dengan"
        f" kata sandi baru\nnew password for {username} saved; {ended} sessions ended, sign in"
        " again with the new password"
    )


def disabled(username: str, ended: int, command: str) -> str:
    """After disabling: the sessions that ended, and how to enable again (`command` enable)."""
    again = f"`{command} enable {username}`"
    return (
        f"akun {username} dinonaktifkan: masuk ditolak dan {ended} sesi berakhir; {again}"
        f" mengaktifkannya lagi\naccount {username} disabled: sign-in refused and {ended}"
        f" sessions ended; {again} enables it again"
    )


def enabled(username: str) -> str:
    """After enabling."""
    return (
        f"akun {username} diaktifkan: dapat masuk lagi dengan kata sandinya\n"
        f"account {username} enabled: can sign in again with its password"
    )


def unchanged(username: str, active: bool) -> str:
    """Enabling an active account, or disabling a disabled one."""
    if active:
        return (
            f"akun {username} sudah aktif: tidak ada yang berubah\n"
            f"account {username} was already active: nothing changed"
        )
    return (
        f"akun {username} sudah nonaktif: tidak ada yang berubah\n"
        f"account {username} was already disabled: nothing changed"
    )


def add_account_actions(
    accounts: argparse._SubParsersAction[argparse.ArgumentParser],
    command: str,
    handlers: dict[str, Handler],
) -> None:
    """`passwd`, `disable` and `enable`, each on a USERNAME as `command list` shows it
    (`passwd` also takes --password-stdin)."""
    for name, text in ACTIONS:
        action = accounts.add_parser(name, help=text, description=f"{text}.")
        action.add_argument("username", help=f"as `{command} list` shows it")
        if name == "passwd":
            action.add_argument(
                "--password-stdin", action="store_true", help="read the password from stdin"
            )
        action.set_defaults(handler=handlers[name])

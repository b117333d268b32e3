"""What stops the site agent's pushes or pulls, kept in the site database where people look.

A registry that refuses the site (401 `sync_unauthenticated`: a revoked key, a key it does not
know; or another refusal that stops pushing) or that cannot be reached used to be a log line
only, while `gerbang sync status`, `/ready`, the metrics, `gerbang doctor` and `gerbang report`
all said the site was fine. The agent now stores the last problem of each direction in
`site_state` (`sync.push_problem`, `sync.pull_problem`): its code, since when, when last and how
often, the registry's status, code and reason, and what to do in both languages. A refusal is
stored when it stops the direction; a failed attempt to reach the registry at each attempt (the
first one's time kept). Either is cleared by the next answer that lets the direction go on: an
acknowledged push (or any answer to a push that the agent acts on), a pulled page.

A refusal is an alarm at once: only a person can fix it. An unreachable registry is an alarm
once it has lasted `UNREACHABLE_ALARM_AFTER`: links to remote sites drop, the gate works offline,
and the outbox waits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from enrollment.db import Database
from kernel.clock import now_iso
from kernel.errors import GerbangError, Message
from site_sync.state import PULL_PROBLEM, PUSH_PROBLEM, forget, read_json, write
from site_sync.uplink import RegistryUnreachable

Direction = Literal["push", "pull"]
KEYS: dict[Direction, str] = {"push": PUSH_PROBLEM, "pull": PULL_PROBLEM}
UNREACHABLE = RegistryUnreachable.code
UNREACHABLE_ALARM_AFTER = timedelta(minutes=15)
_SAME = ("code", "status", "registry_code", "reason")  # what makes a repeat the same problem


def record(
    tx: sqlite3.Connection, direction: Direction, error: GerbangError, site_id: str
) -> dict[str, Any]:
    """Store (inside the caller's transaction) what stopped a direction; return the record.

    The same problem again keeps its first time (`since`) and counts up; another one starts anew.
    Every failed attempt to reach the registry is the same outage, whatever the link answered.
    """
    now = now_iso()
    seen = answer_of(error)
    previous = read_json(tx, KEYS[direction])
    same = ("code",) if seen["code"] == UNREACHABLE else _SAME
    repeated = previous is not None and all(previous.get(k) == seen.get(k) for k in same)
    problem = {
        **seen,
        "since": previous["since"] if repeated and previous else now,
        "at": now,
        "count": int(previous.get("count", 1)) + 1 if repeated and previous else 1,
        "fix": fix_for(seen, site_id).as_dict(),
    }
    write(tx, KEYS[direction], json.dumps(problem, sort_keys=True, default=str))
    return problem


def clear(tx: sqlite3.Connection, direction: Direction) -> None:
    """The direction goes on: forget its problem (inside the caller's transaction)."""
    forget(tx, KEYS[direction])


def stored(tx: sqlite3.Connection) -> dict[Direction, dict[str, Any] | None]:
    """Each direction's stored problem, or None."""
    return {direction: read_json(tx, key) for direction, key in KEYS.items()}


def stored_now(db: Database) -> dict[Direction, dict[str, Any] | None]:
    """Each direction's stored problem, read in a snapshot of its own (for /ready)."""
    with db.reading() as tx:
        return stored(tx)


def is_refusal(problem: dict[str, Any] | None) -> bool:
    """The registry answered and refused: a person must act."""
    return problem is not None and problem.get("code") != UNREACHABLE


def is_alarm(problem: dict[str, Any] | None, now: datetime | None = None) -> bool:
    """A refusal, or a registry unreachable for at least UNREACHABLE_ALARM_AFTER."""
    if problem is None:
        return False
    return is_refusal(problem) or unreachable_for(problem, now) >= UNREACHABLE_ALARM_AFTER


def unreachable_for(problem: dict[str, Any] | None, now: datetime | None = None) -> timedelta:
    """How long the registry has been unreachable in this direction (zero when it answers)."""
    if problem is None or problem.get("code") != UNREACHABLE:
        return timedelta(0)
    since = datetime.fromisoformat(str(problem["since"]))
    return max(timedelta(0), (now or datetime.now(UTC)) - since)


def answer_of(error: GerbangError) -> dict[str, Any]:
    """The error's code, and the status, code and reason the registry gave (or the link's)."""
    details = error.details
    if error.code == UNREACHABLE:
        return {"code": error.code, "status": details.get("status"), "registry_code": "",
                "reason": str(details.get("reason") or "")[:300]}  # fmt: skip
    given = details.get("registry_details")
    if isinstance(given, dict):
        reason = given.get("reason") or json.dumps(given, sort_keys=True, default=str)
    else:
        reason = given or ""
    return {"code": error.code, "status": details.get("status"),
            "registry_code": str(details.get("registry_code") or ""), "reason": str(reason)[:300]}  # fmt: skip


def fix_for(problem: dict[str, Any], site_id: str) -> Message:
    """What to do about a problem, in both languages, with the commands to run."""
    if problem.get("code") == UNREACHABLE:
        return _UNREACHABLE_FIX
    if problem.get("registry_code") == "too_many_dead_letters":
        return _TOO_MANY_WITHHELD_FIX
    if problem.get("status") not in (401, 403):
        return _OTHER_FIX
    reason = str(problem.get("reason") or "")
    for start, fix in _KEY_FIXES:  # the registry's reasons: registry/site_keys.py, site_auth.py
        if reason.startswith(start):
            return fix(site_id)
    return _unknown_key(site_id)


_UNREACHABLE_FIX = Message(
    "Periksa jaringan, EDGE_SYNC__REGISTRY_URL dan EDGE_SYNC__REGISTRY_CA_FILE (`gerbang doctor`)."
    " Gerbang tetap bekerja; perubahan menunggu di situs dan terkirim saat registri menjawab.",
    "Check the network, EDGE_SYNC__REGISTRY_URL and EDGE_SYNC__REGISTRY_CA_FILE (`gerbang"
    " doctor`). The gate keeps working; changes wait at the site and go when the registry answers.",
)
_TOO_MANY_WITHHELD_FIX = Message(
    "Terlalu banyak perubahan ditolak: selesaikan dengan `gerbang sync retry SEQ` atau `gerbang"
    " sync drop SEQ`, dan hubungi admin pusat (perangkat lunak, bukan data, yang salah).",
    "Too many changes were refused: resolve them with `gerbang sync retry SEQ` or `gerbang sync"
    " drop SEQ`, and call the central admin (the software, not a record, is wrong).",
)
_OTHER_FIX = Message(
    "Hubungi admin pusat dengan kode dan alasan ini (`gerbang sync status --json`); versi"
    " perangkat lunak situs dan registri mungkin berbeda.",
    "Call the central admin with this code and reason (`gerbang sync status --json`); the site's"
    " and the registry's software versions may differ.",
)
_CLOCK_FIX = Message(
    "Jam mesin ini berbeda dari jam registri. Setel jam (NTP: `timedatectl set-ntp true`).",
    "This machine's clock differs from the registry's. Set it (NTP: `timedatectl set-ntp true`).",
)


def _new_key(site_id: str, first_id: str, first_en: str) -> Message:
    return Message(
        f"{first_id}buat kunci baru di situs: `gerbang sync keygen --new`, lalu admin pusat"
        f" mendaftarkannya: `gerbang registry sites set-key {site_id} --public-key KUNCI"
        " --reason ...`. Sampai itu data menunggu di situs; gerbang tetap bekerja.",
        f"{first_en}make a new key at the site: `gerbang sync keygen --new`, then the central"
        f" admin registers it: `gerbang registry sites set-key {site_id} --public-key KEY"
        " --reason ...`. Until then data waits at the site; the gate keeps working.",
    )


def _unknown_key(site_id: str) -> Message:
    return Message(
        "Registri tidak mengenal kunci situs ini. Tampilkan kunci publiknya dengan `gerbang sync"
        f" keygen`, lalu admin pusat mendaftarkannya: `gerbang registry sites set-key {site_id}"
        " --public-key KUNCI --reason ...`.",
        "The registry does not know this site's key. Print its public key with `gerbang sync"
        f" keygen`, then the central admin registers it: `gerbang registry sites set-key {site_id}"
        " --public-key KEY --reason ...`.",
    )


def _unknown_site(site_id: str) -> Message:
    return Message(
        f"Registri tidak mengenal situs {site_id}: periksa EDGE_SITE_ID, atau admin pusat"
        f" menambahkannya: `gerbang registry sites add {site_id} --name ... --region ..."
        " --public-key KUNCI` (kunci dari `gerbang sync keygen`).",
        f"The registry does not know site {site_id}: check EDGE_SITE_ID, or the central admin"
        f" adds it: `gerbang registry sites add {site_id} --name ... --region ... --public-key"
        " KEY` (the key from `gerbang sync keygen`).",
    )


def _revoked(site_id: str) -> Message:
    return _new_key(
        site_id,
        "Kunci situs ini dicabut di registri: ",
        "This site's key was revoked at the registry: ",
    )


def _retired(site_id: str) -> Message:
    return _new_key(
        site_id,
        "Selesaikan rotasi yang terputus: `gerbang sync rotate-key --registry URL`; bila tetap"
        " ditolak, ",
        "Finish an interrupted rotation: `gerbang sync rotate-key --registry URL`; if it is"
        " still refused, ",
    )


_KEY_FIXES: tuple[tuple[str, Callable[[str], Message]], ...] = (
    ("key revoked", _revoked),
    ("key retired", _retired),
    ("timestamp", lambda _: _CLOCK_FIX),
    ("unknown site", _unknown_site),
    ("the batch names another site", _unknown_site),
)

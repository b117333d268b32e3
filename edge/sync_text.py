"""The site's sync state in words for an officer: `gerbang sync status` and the sync line of
`gerbang report`, each sentence in Indonesian, then in English (`--json` keeps the raw summary).

The summary is `site_sync.state.summary`: cursors, backlog, the conflict alarm, the last refused
pull and the open dead letters.
"""

from __future__ import annotations

from typing import Any

Said = tuple[str, str]  # (Indonesian, English)


def unsent(sync: dict[str, Any], registry_url: str | None) -> Said:
    """What the outbox holds: waiting for the registry, or kept here when there is none."""
    waiting = sync["waiting"]
    if registry_url is None and sync["pushed_through"] == 0:
        return (
            f"{waiting} perubahan disimpan di situs ini: belum ada registri yang diatur"
            " (EDGE_SYNC__REGISTRY_URL) dan belum ada yang pernah dikirim",
            f"{waiting} changes kept at this site: no registry is configured"
            " (EDGE_SYNC__REGISTRY_URL) and nothing was ever sent",
        )
    return (
        f"{waiting} perubahan menunggu dikirim ke registri",
        f"{waiting} changes waiting to be sent to the registry",
    )


def _alarm(alarm: dict[str, Any]) -> Said:
    span = f"seq {alarm.get('first_seq')}-{alarm.get('last_seq')}"
    return (
        f"** Pengiriman berhenti: registri menyimpan isi lain untuk {span} (sejak"
        f" {alarm.get('at')}). Selesaikan di registri, lalu `gerbang sync clear-alarm`.",
        f"** Pushing stopped: the registry holds other content for {span} (since"
        f" {alarm.get('at')}). Resolve it at the registry, then `gerbang sync clear-alarm`.",
    )


def _pull_error(error: dict[str, Any]) -> Said:
    return (
        f"Halaman terakhir dari registri ditolak (sejak {error.get('at')}); penerimaan dicoba"
        " lagi. Lihat `gerbang sync status --json`.",
        f"The last page from the registry was refused (since {error.get('at')}); receiving is"
        " tried again. See `gerbang sync status --json`.",
    )


def _dead_letters(letters: list[dict[str, Any]]) -> list[str]:
    if not letters:
        return []
    lines = [
        f"  {len(letters)} perubahan ditahan (ditolak registri): kirim lagi dengan"
        " `gerbang sync retry SEQ`, atau lepaskan dengan `gerbang sync drop SEQ`",
        f"  {len(letters)} changes withheld (refused by the registry): send again with"
        " `gerbang sync retry SEQ`, or give up with `gerbang sync drop SEQ`",
    ]
    lines += [f"    seq {d['seq']} {d['kind']} {d['entity_id']}: {d['code']} ({d['dead_at']})"
              for d in letters]  # fmt: skip
    return lines


def status_lines(site_id: str, sync: dict[str, Any], registry_url: str | None) -> list[str]:
    """`gerbang sync status` in words."""
    sent, received = sync["pushed_through"], sync["pulled_through"]
    said = [
        unsent(sync, registry_url),
        (f"terkirim sampai seq {sent} dari {sync['outbox_newest']}",
         f"sent through seq {sent} of {sync['outbox_newest']}"),
        (f"diterima dari registri sampai seq {received}",
         f"received from the registry through seq {received}"),
    ]  # fmt: skip
    if sync["alarm"]:
        said.append(_alarm(sync["alarm"]))
    if sync["pull_error"]:
        said.append(_pull_error(sync["pull_error"]))
    lines = [f"Sinkronisasi situs {site_id} / site sync {site_id}"]
    for indonesian, english in said:
        lines += [f"  {indonesian}", f"  {english}"]
    return lines + _dead_letters(sync["dead_letters"])

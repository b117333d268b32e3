"""`gerbang eval DIR --open-set`: FNIR at fixed FPIR, rank-r and a DET plot, by gallery size and
population, on a folder-per-identity set (the maths in models/openset_eval, the protocol in
models/openset_protocol, the table in models/openset_report)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge.settings import Settings
from kernel.errors import InputError, Message
from models import openset_protocol as osp
from models import openset_report as osr
from models.batch import embed_files, list_images, save_npz
from models.loader import EngineSpec


class OpenSetArgumentInvalid(InputError):
    """A flag of the open-set evaluation cannot be used as given."""

    code = "openset_argument_invalid"
    message = Message(
        "Argumen evaluasi open-set tidak dapat dipakai. Perbaiki sesuai keterangan lalu jalankan lagi.",
        "An open-set evaluation argument cannot be used. Correct it as the detail says and run again.",
    )


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise OpenSetArgumentInvalid(
            detail=f"{flag} {text!r}: whole numbers, comma separated"
        ) from None
    if not values or min(values) < 1:
        raise OpenSetArgumentInvalid(detail=f"{flag} {text!r}: positive whole numbers")
    return values


def _groups(args: argparse.Namespace, names: list[str]) -> dict[str, list[str]]:
    """Population name → identities: everyone, each `<source>-` prefix (--by-source), each --group."""
    groups = {"all": names}
    if args.by_source:
        for source in sorted({n.split("-", 1)[0] for n in names if "-" in n}):
            groups[source] = [n for n in names if n.split("-", 1)[0] == source]
    for spec in args.group or []:
        name, _, prefixes = spec.partition("=")
        wanted = tuple(p.strip() + "-" for p in prefixes.split(",") if p.strip())
        if not name or not wanted:
            raise OpenSetArgumentInvalid(detail=f"--group {spec!r}: NAME=prefix[,prefix]")
        groups[name] = [n for n in names if n.startswith(wanted)]
    return {g: members for g, members in groups.items() if len(members) >= 4}


def load_or_embed(
    spec: EngineSpec, root: Path, cache: Path | None, workers: int | None
) -> osp.Photos:
    """Embeddings of every photo under root: from the cache when it matches, else computed with
    all cores (and written to the cache when one is named)."""
    paths = list_images(root)
    names = [str(p.relative_to(root)) for p in paths]
    if cache is not None and cache.is_file():
        with np.load(cache) as archive:
            if str(archive["pack_id"]) == spec.pack.id and list(archive["paths"]) == names:
                labels = [n.split("/", 1)[0] for n in names]
                flipped = archive.get("embeddings_flip", None)
                return osp.photos_from(archive["embeddings"], labels, archive["quality"], flipped)
        print(f"{cache} does not match {root} and pack {spec.pack.id}: embedding again")
    results = embed_files(spec, [str(p) for p in paths], workers)
    if cache is not None:
        save_npz(cache, results, names, spec.pack.id, spec.pack.embedding_dim)
    embeddings = np.full((len(paths), spec.pack.embedding_dim), np.nan, dtype=np.float32)
    for row, result in enumerate(results):
        if result.template is not None:
            embeddings[row] = result.template
    quality = np.array([r.quality for r in results])
    return osp.photos_from(embeddings, [n.split("/", 1)[0] for n in names], quality)


def evaluate_open_set(args: argparse.Namespace, spec: EngineSpec, settings: Settings) -> int:
    """Print the open-set table, write the DET plot and (with --out) the JSON report."""
    del settings
    sizes = _ints(args.gallery_sizes, "--gallery-sizes")
    captures = _ints(args.captures, "--captures")
    templates = [t.strip() for t in args.templates.split(",") if t.strip()]
    if not templates or set(templates) - {"mean", "max", "qmean"}:
        raise OpenSetArgumentInvalid(detail=f"--templates {args.templates!r}: mean, max, qmean")
    root = Path(args.dir)
    photos = load_or_embed(
        spec, root, Path(args.embeddings) if args.embeddings else None, args.workers
    )
    rows: list[osr.Row] = []
    for population, members in _groups(args, photos.names).items():
        part = photos.subset_people(members)
        for k in captures:
            for template in templates:
                if k == 1 and template == "max" and "mean" in templates:
                    continue  # one capture: the best of one is the mean of one
                variant = osp.Variant(name=template, template=template)
                rows += osr.rows_for(
                    population, part, variant, sizes, k, args.repeats, args.seed, args.tail
                )
    print(
        f"open-set on {root.name}: {len(photos.names)} people, {len(photos.person)} usable photos"
    )
    print(osr.format_rows(rows))
    osr.plot(rows, Path(args.plot), f"Open-set DET on {root.name} ({spec.pack.id})")
    print(f"DET plot: {args.plot}")
    if args.out:
        report = {
            "set": str(root),
            "pack": spec.pack.id,
            "people": len(photos.names),
            "photos": len(photos.person),
            "repeats": args.repeats,
            "seed": args.seed,
            "tail_model": args.tail,
            "rows": [r.as_json() for r in rows],
        }
        Path(args.out).write_text(json.dumps(report, indent=1), encoding="utf-8")
        print(f"report: {args.out}")
    return 0

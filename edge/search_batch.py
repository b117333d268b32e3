"""`gerbang search-batch`: 1:N searches of many probes against a gallery, decided exactly as the
site service decides them, so anyone can evaluate the shipped configuration on their own photos.

GALLERY.csv (`path,person`): several rows of a person are several captures of one identity,
enrolled as one identity (its identity template, gallery_sync/gallery.py) in the role and status
the decision kind searches (enrollment/matching.py SEARCH_KINDS), and the gallery calibrates
itself as a site's does (gallery_sync/openset.py: its own population from `open_set_min_people`
people on, the pack's shipped calibration below that). Every face found enrols: the desk's
capture policy (quality, liveness, the best `keep_best`) is not applied, since the photos are the
user's choice. PROBES.csv (`path`). Paths are absolute or relative to their CSV's folder.

Fingers (issue 12): either CSV may add a `fingers` column (`position:path;position:path`, ISO
positions, edge/batch_fingers.py) and a `ppi` column (500 when absent); a row may then carry a
face, fingers or both (an empty `path`). With fingers, each probe is decided on face and finger
by enrollment/fused_search.py `decide_fused`, the function the gate's searches use, under the
kind's rule, and RESULTS.csv adds the evidence: `used`, each modality's score and threshold,
the fused score and threshold (nats) and any veto; `score` and `threshold` are then the fused
ones where both modalities were scored, else the one used.

RESULTS.csv `probe,rank,person,score,threshold,above`: each probe's top K people (rank 1 best),
the score decided on, the threshold of that kind at this gallery's size and population, and
above = 1 when the service would return that candidate; a probe without a usable face gets one
row, rank 0, empty person and score. Images are embedded with every core (models/batch.py) and
each search goes through `decide_search`, the function the service's searches use.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from tqdm import tqdm

from edge import wiring
from edge.batch_fingers import FINGER_COLUMNS, FusedBatch, finger_gallery
from edge.settings import Settings
from enrollment.matching import SEARCH_KINDS, decide_search
from enrollment.service import MatchThresholds
from gallery_sync.gallery import GalleryEntry, GalleryIndex
from kernel.errors import InputError, Message
from models.batch import EmbeddedImage, embed_files
from models.calibration import Calibration
from models.obtain import ensure_converted


class BadSearchCsv(InputError):
    code = "search_batch_bad_csv"
    message = Message(
        "Berkas CSV tidak sesuai: periksa baris judul dan kolomnya.",
        "The CSV file is not as expected: check its header row and columns.",
    )


def read_rows(
    path: Path, columns: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Rows of a CSV with these header columns (and any of `optional`); paths resolved against
    its folder, an empty path left empty (a row of fingers only)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            if header[: len(columns)] != columns or not set(header[len(columns) :]) <= set(
                optional
            ):
                raise BadSearchCsv(file=str(path), header=reader.fieldnames, expected=list(columns))
            rows = [{**dict.fromkeys(optional, ""), **row} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadSearchCsv(file=str(path), reason=str(exc)) from exc
    for row in rows:
        resolved = Path(row["path"])
        if row["path"]:
            row["path"] = str(resolved if resolved.is_absolute() else path.parent / resolved)
        row["folder"] = str(path.parent)
    return rows


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `gerbang search-batch`."""
    parser = sub.add_parser(
        "search-batch", help="1:N searches of many probes, decided exactly as the service does"
    )
    parser.add_argument("--gallery", required=True, help="GALLERY.csv: path,person")
    parser.add_argument("--probes", required=True, help="PROBES.csv: path")
    parser.add_argument("--out", required=True, help="RESULTS.csv to write")
    parser.add_argument("--top", type=int, default=5, help="people listed per probe (default 5)")
    parser.add_argument(
        "--kind", default="gate_inmate", choices=sorted(SEARCH_KINDS), help="decision kind"
    )
    parser.add_argument("--workers", type=int, help="processes (default: physical cores)")
    parser.add_argument("--pack", help="pack id (default: EDGE_PACK)")
    parser.set_defaults(handler=search_batch)


def search_batch(args: argparse.Namespace) -> int:
    """Embed, enrol, calibrate, search, write RESULTS.csv."""
    if args.top < 1:
        raise BadSearchCsv(top=args.top)
    settings = Settings()
    spec = wiring.engine_spec(settings, args.pack)
    ensure_converted(spec.store, spec.pack)
    gallery_rows = read_rows(Path(args.gallery), ("path", "person"), FINGER_COLUMNS)
    probe_rows = read_rows(Path(args.probes), ("path",), FINGER_COLUMNS)
    with_fingers = any(row["fingers"] for row in gallery_rows + probe_rows)
    paths = [r["path"] for r in gallery_rows + probe_rows if r["path"]]
    faces = iter(embed_files(spec, paths, args.workers))
    no_face = EmbeddedImage("", None, 0.0, 0.0, "no_face_image")
    embedded = [next(faces) if r["path"] else no_face for r in gallery_rows + probe_rows]
    role, status = SEARCH_KINDS[args.kind]
    entries = [
        GalleryEntry(number, row["person"], role, status, result.template)
        for number, (row, result) in enumerate(zip(gallery_rows, embedded, strict=False), 1)
        if result.template is not None
    ]
    gallery = GalleryIndex(spec.pack.embedding_dim)
    gallery.add(entries)
    thresholds = batch_thresholds(settings, spec.pack.id, gallery)
    only = [e.identity_id for e in entries] if args.kind == "visitor_exit" else None
    if with_fingers:
        with_faces = list(zip(probe_rows, embedded[len(gallery_rows) :], strict=True))
        fingers = finger_gallery(gallery_rows, wiring.finger_extractor(settings))
        only = sorted({*fingers.prints, *(only or ())}) if only is not None else None
        decide = FusedBatch(settings, spec.pack.id, gallery, fingers, thresholds, args.kind)
        searched = decide.write(Path(args.out), with_faces, (role, status), only, args.top)
        print(f"wrote {args.out}: {len(probe_rows)} probes ({len(probe_rows) - searched} without"
              f" a usable face or finger) against {len({*fingers.prints, *(e.identity_id for e in entries)})}"
              f" people as {args.kind}, face and finger fused ({fingers.unusable} gallery prints"
              " unusable)")  # fmt: skip
        return 0
    searched = 0
    with Path(args.out).open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["probe", "rank", "person", "score", "threshold", "above"])
        probes = embedded[len(gallery_rows) :]
        for row, result in tqdm(zip(probe_rows, probes, strict=True), total=len(probe_rows),
                                desc="search", unit="probe"):  # fmt: skip
            if result.template is None:
                out.writerow([row["path"], 0, "", "", "", 0])
                continue
            found, threshold, _ = decide_search(
                gallery, result.template, (role,), (status,), only, args.top, thresholds, args.kind
            )
            searched += 1
            for rank, candidate in enumerate(found, 1):
                out.writerow([row["path"], rank, candidate.identity_id, f"{candidate.score:.6f}",
                              f"{threshold:.6f}", int(candidate.score >= threshold)])  # fmt: skip
    people = gallery.people()
    print(
        f"wrote {args.out}: {len(probe_rows)} probes ({len(probe_rows) - searched} without a"
        f" usable face) against {people} people ({len(entries)} captures) as {args.kind};"
        f" calibration: {thresholds.open_set.current.source if thresholds.open_set else '-'}"
    )
    return 0


def batch_thresholds(settings: Settings, pack_id: str, gallery: GalleryIndex) -> MatchThresholds:
    """The thresholds the site would use with this gallery (the same wiring as edge/site.py)."""
    calibration = Calibration.load(wiring.calibration_path(settings, pack_id))
    match = settings.match
    return MatchThresholds(
        identify=calibration.threshold_for(match.identify_fmr),
        identify_fmr=match.identify_fmr,
        verify=calibration.threshold_for(match.verify_fmr),
        verify_fmr=match.verify_fmr,
        open_set=wiring.open_set_thresholds(settings, pack_id, calibration, gallery),
    )

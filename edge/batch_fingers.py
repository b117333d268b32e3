"""Fingers in `gerbang search-batch`: the `fingers` column, and the people's prints as the site
holds them.

A cell holds `position:path` pairs separated by `;` (ISO finger positions 1-10; paths absolute
or relative to the CSV's folder), at the row's `ppi` (500 when there is no such column or it is
empty). Gallery prints are kept as the site keeps them: extracted by the site's extractor (NBIS
MINDTCT unless EDGE_MATCH__FINGER_EXTRACTOR says otherwise), stored as an ISO/IEC 19794-2 record and decoded again (its coarser angles are what the site compares),
with MCC cylinders; probe prints are compared as extracted, as at a gate. A person's finger
score is their best over the probe's prints and their own prints of the same position, and the
comparisons made are counted, as enrollment/fused_search.py divides the person's FMR by them.
Unlike the site, which shortlists through its index, every gallery print is compared.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from edge import wiring
from edge.settings import Settings
from enrollment.fused_search import (
    SHORTLIST,
    FusedSearchResult,
    PersonEvidence,
    decide_fused,
    face_tail,
    rule_for,
)
from enrollment.service import MatchThresholds
from gallery_sync.gallery import GalleryIndex
from gallery_sync.openset import search_threshold
from kernel.errors import GerbangError, InputError, Message
from models.batch import EmbeddedImage
from models.cohort import CohortNorm
from models.faces import FloatArray
from models.fingerprint import iso19794, mcc, nbis
from models.fingerprint.extractors import NBIS, FingerExtractor
from models.fingerprint.minutiae import MinutiaeTemplate
from models.openset import DEFAULT_TARGET_FPIR

Prints = list[tuple[int, MinutiaeTemplate]]


class BadFingersCell(InputError):
    code = "search_batch_bad_fingers"
    message = Message(
        "Kolom fingers harus berisi posisi:berkas dipisah ';' (posisi ISO 1-10).",
        "The fingers column must hold position:path pairs separated by ';' (ISO positions 1-10).",
    )


def parse_fingers(cell: str, folder: Path, ppi_cell: str) -> list[tuple[int, Path, int]]:
    """(position, path, ppi) of each print a cell names; an empty cell names none."""
    try:
        ppi = int(ppi_cell) if ppi_cell.strip() else 500
    except ValueError as exc:
        raise BadFingersCell(ppi=ppi_cell) from exc
    found = []
    for pair in filter(None, (part.strip() for part in cell.split(";"))):
        position, sep, name = pair.partition(":")
        if not sep or not position.strip().isdigit() or not 1 <= int(position) <= 10 or not name:
            raise BadFingersCell(cell=cell)
        path = Path(name.strip())
        found.append((int(position), path if path.is_absolute() else folder / path, ppi))
    return found


def read_print(path: Path, ppi: int, extractor: FingerExtractor = NBIS) -> MinutiaeTemplate:
    """One print extracted (InputError when unreadable or without minutiae)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise nbis.FingerprintImageInvalid(file=str(path), reason=str(exc)) from exc
    return mcc.with_cylinders(extractor.extract(nbis.read_image(data), ppi))


def as_stored(position: int, template: MinutiaeTemplate) -> MinutiaeTemplate:
    """The template as the site compares it after storing it as an ISO record."""
    decoded = iso19794.decode(iso19794.encode([(position, template)]))[0][1]
    return mcc.with_cylinders(decoded)


def read_probe(
    prints: Iterable[tuple[int, Path, int]], extractor: FingerExtractor = NBIS
) -> tuple[Prints, str | None]:
    """A probe's usable prints, and the code of the first that could not be used."""
    usable, problem = [], None
    for position, path, ppi in prints:
        try:
            usable.append((position, read_print(path, ppi, extractor)))
        except GerbangError as exc:
            problem = problem or exc.code
    return usable, problem


@dataclass
class FingerGallery:
    """Each gallery person's stored prints, by person."""

    prints: dict[str, Prints] = field(default_factory=lambda: defaultdict(list))
    extractor: FingerExtractor = NBIS  # makes the gallery's templates and the probes'
    unusable: int = (
        0  # prints that could not be extracted (left out, as the desk would refuse them)
    )

    def add(self, person: str, prints: Iterable[tuple[int, Path, int]]) -> None:
        for position, path, ppi in prints:
            try:
                template = read_print(path, ppi, self.extractor)
                self.prints[person].append((position, as_stored(position, template)))
            except GerbangError:
                self.unusable += 1

    def scores(self, probe: Prints) -> dict[str, tuple[float | None, int]]:
        """Each person's best score over same-position comparisons, and how many were made."""
        found: dict[str, tuple[float | None, int]] = {}
        for person, stored in self.prints.items():
            pairs = [(p, s) for pos, p in probe for spos, s in stored if pos == spos]
            if pairs:
                found[person] = (max(mcc.compare_minutiae(p, s) for p, s in pairs), len(pairs))
        return found


def ranked(scores: dict[str, tuple[float | None, int]], limit: int) -> list[str]:
    """The `limit` people whose prints score highest."""
    best = sorted(((s, p) for p, (s, _) in scores.items() if s is not None), reverse=True)
    return [person for _, person in best[:limit]]


FINGER_COLUMNS = ("fingers", "ppi")
RESULT_COLUMNS = ["probe", "rank", "person", "score", "threshold", "above", "used", "face_score",
                  "face_threshold", "finger_score", "finger_threshold", "fused_score",
                  "fused_threshold", "veto"]  # fmt: skip


def _prints_of(row: dict[str, str]) -> list[tuple[int, Path, int]]:
    return parse_fingers(row["fingers"], Path(row["folder"]), row["ppi"])


def finger_gallery(
    rows: Iterable[dict[str, str]], extractor: FingerExtractor = NBIS
) -> FingerGallery:
    """Every gallery row's prints, by person."""
    gallery = FingerGallery(extractor=extractor)
    for row in rows:
        gallery.add(row["person"], _prints_of(row))
    return gallery


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


class FusedBatch:
    """Probes decided on face and finger as the site's gate searches decide them."""

    def __init__(self, settings: Settings, pack_id: str, gallery: GalleryIndex,
                 fingers: FingerGallery, thresholds: MatchThresholds, kind: str) -> None:  # fmt: skip
        self.model = wiring.fusion_model(settings, pack_id, fingers.extractor)
        self.gallery, self.fingers, self.thresholds, self.kind = gallery, fingers, thresholds, kind

    def decide(
        self, template: FloatArray | None, probe: Prints, problem: str | None,
        partition: tuple[str, str], only: list[str] | None,
        finger_scores: dict[str, tuple[float | None, int]] | None = None,
    ) -> FusedSearchResult:  # fmt: skip
        """One probe: face and finger shortlists, each person decided by decide_fused (the
        probe's finger scores may be given, when one print is searched several times)."""
        roles, statuses = (partition[0],), (partition[1],)
        face_threshold, setting = search_threshold(self.gallery, self.thresholds.open_set,
                                             self.thresholds.identify, self.kind, roles, statuses,
                                             only)  # fmt: skip
        open_set = self.thresholds.open_set
        target = (open_set.targets if open_set else DEFAULT_TARGET_FPIR)[self.kind]
        people = {*self.fingers.prints} | {meta[0] for meta in self.gallery.snapshot().values()}
        if only is not None:
            people &= set(only)
        scores = finger_scores if finger_scores is not None else self.fingers.scores(probe)
        chosen = ranked(scores, SHORTLIST)
        if template is not None:
            found = self.gallery.search(template, k=SHORTLIST, roles=roles, statuses=statuses,
                                        only_identities=only)[0]  # fmt: skip
            chosen = [c.identity_id for c in found] + chosen
        face = (face_threshold, face_tail(open_set, self.model))
        return decide_fused(
            self.model, self.kind, target, len(people), face, chosen,
            lambda person: self._face(template, person, setting.cohort if setting else None),
            lambda person: scores.get(person, (None, 0)), None if probe else problem or "no_finger",
        )  # fmt: skip

    def _face(self, template: FloatArray | None, person: str,
              cohort: CohortNorm | None) -> tuple[float, float] | None:  # fmt: skip
        """(score on the face threshold's scale, cosine), as FusedSearch scores it."""
        if template is None:
            return None
        return self.gallery.identity_score(template, person, cohort)

    def write(self, out: Path, probes: list[tuple[dict[str, str], EmbeddedImage]],
              partition: tuple[str, str], only: list[str] | None, top: int) -> int:  # fmt: skip
        """RESULTS.csv with the fused evidence; returns the probes that could be searched."""
        searched = 0
        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(RESULT_COLUMNS)
            for row, face in tqdm(probes, desc="search", unit="probe"):
                prints, problem = read_probe(_prints_of(row), self.fingers.extractor)
                label = row["path"] or row["fingers"]
                if face.template is None and not prints:
                    writer.writerow([label, 0, "", "", "", 0] + [""] * 8)
                    continue
                searched += 1
                result = self.decide(face.template, prints, problem, partition, only)
                rule = rule_for(self.kind)
                for rank, p in enumerate(result.people[:top], 1):
                    score, threshold = _decided_on(p)
                    writer.writerow([label, rank, p.identity_id, _cell(score), _cell(threshold),
                                     int(p.matches(rule)), "+".join(p.used), _cell(p.face_score),
                                     _cell(p.face_threshold), _cell(p.finger_score),
                                     _cell(p.finger_threshold), _cell(p.fused_score),
                                     _cell(p.fused_threshold), p.veto or ""])  # fmt: skip
        return searched


def _decided_on(person: PersonEvidence) -> tuple[float | None, float | None]:
    """The score and threshold the fused decision compares: fused, else the modality used."""
    if person.fused_score is not None:
        return person.fused_score, person.fused_threshold
    if person.face_score is not None:
        return person.face_score, person.face_threshold
    return person.finger_score, person.finger_threshold

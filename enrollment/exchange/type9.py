"""Type-9 minutiae records: one finger's minutiae, as the legacy standard fields 9.005-9.012.

Receivers that match minutiae (an AFIS at the police) take them from Type-9 without extracting
again; the registry, which holds ISO/IEC 19794-2 records but no finger images, can send nothing
else. Fields written (FMT `S`, the standard layout):

    9.003 IMP  impression type (0 live-scan plain)
    9.004 FMT  S
    9.005 OFR  originating system: name, method `A` (automatic), equipment (the extractor)
    9.006 FGP  finger position 1-10
    9.007 FPC  pattern class: table `T`, `UC` (unclassifiable: not computed here)
    9.010 MIN  number of minutiae
    9.011 RDG  0: no ridge counts
    9.012 MRC  one subfield per minutia: index, XXXXYYYYTTT, quality, type

XXXX and YYYY are in units of 0.01 mm from the lower left corner of the image (ISO counts pixels
from the upper left), TTT the angle in whole degrees counter-clockwise from the right horizontal,
as ISO/IEC 19794-2 gives it (NIST BiomDI's fmr2an2k turns y upwards the same way without changing
the angle). Quality 0-100 becomes 2-63 (0 and 1 mean "manual" and "none" in this field); type is
A (ending), B (bifurcation) or D (other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from enrollment.exchange.codec import MalformedTransaction, Record
from models.fingerprint.minutiae import BIFURCATION, ENDING, OTHER, MinutiaeTemplate

MM_PER_INCH = 25.4
TYPE_CODES = {ENDING: "A", BIFURCATION: "B", OTHER: "D"}
CODE_TYPES = {"A": ENDING, "B": BIFURCATION, "C": OTHER, "D": OTHER}


@dataclass(frozen=True)
class MinutiaeView:
    """One impression's minutiae and which finger it is."""

    position: int
    template: MinutiaeTemplate


def _hundredths(pixels: float, ppi: int) -> int:
    return round(pixels * MM_PER_INCH * 100 / ppi)


def _pixels(hundredths: int, ppi: int) -> float:
    return hundredths * ppi / (MM_PER_INCH * 100)


def _quality(value: float) -> str:
    return str(2 + round(max(0.0, min(100.0, value)) * 61 / 100))


def record(view: MinutiaeView, idc: int) -> Record:
    """The Type-9 record of one impression (`idc` ties it to its Type-14 image, if one is sent)."""
    t = view.template
    rows = []
    for index, (x, y, angle, quality, kind) in enumerate(t.minutiae, start=1):
        xx = _hundredths(float(x), t.resolution_ppi)
        yy = _hundredths(t.height - 1 - float(y), t.resolution_ppi)
        degrees = round(math.degrees(float(angle))) % 360
        if not (0 <= xx <= 9999 and 0 <= yy <= 9999):
            raise ValueError(f"minutia {index} lies outside 99.99 mm: ({xx}, {yy})")
        rows.append([str(index), f"{xx:04d}{yy:04d}{degrees:03d}", _quality(float(quality)),
                     TYPE_CODES.get(int(kind), "D")])  # fmt: skip
    fields: dict[int, object] = {
        2: f"{idc:02d}", 3: "0", 4: "S", 5: [["GERBANG", "A", t.extractor[:40] or "unknown"]],
        6: str(view.position), 7: [["T", "UC"]], 10: str(len(rows)), 11: "0",
    }  # fmt: skip
    if rows:
        fields[12] = rows
    return Record(9, fields)  # type: ignore[arg-type]


def parse(r: Record, ppi: int = 500, width: int = 0, height: int = 0) -> MinutiaeView:
    """A received Type-9 record (standard format) as minutiae in pixels at `ppi`.

    The record does not carry the image size. With `height` the y axis is turned back to count
    downwards from the top edge; with `height` 0 it counts downwards from the highest minutia,
    the sender's positions moved as a whole (a matcher needs them unmirrored: y kept upwards
    with the angles as sent would be the mirror image of the print, and match nothing)."""
    if r.text(4) != "S":
        raise MalformedTransaction.at(
            0, f"Type-9 format {r.text(4)!r}: only the standard layout S is read"
        )
    position = r.text(6)
    if not position.isdigit() or not 0 <= int(position) <= 10:
        raise MalformedTransaction.at(0, f"Type-9 finger position {position!r} is not 0-10")
    rows = []
    for sub in r.subfields(12):
        if len(sub) < 4 or len(sub[1]) != 11 or not sub[1].isdigit():
            raise MalformedTransaction.at(
                0, f"Type-9 minutia {sub!r} is not index, XXXXYYYYTTT, quality, type"
            )
        xx, yy, degrees = int(sub[1][:4]), int(sub[1][4:8]), int(sub[1][8:])
        quality = (int(sub[2]) - 2) * 100 / 61 if sub[2].isdigit() and int(sub[2]) >= 2 else 0.0
        rows.append([_pixels(xx, ppi), _pixels(yy, ppi), math.radians(degrees), quality,
                     CODE_TYPES.get(sub[3], OTHER)])  # fmt: skip
    minutiae = np.array(rows, dtype=np.float64).reshape(-1, 5)
    top = (height - 1) if height else minutiae[:, 1].max(initial=0.0)
    minutiae[:, 1] = top - minutiae[:, 1]
    ofr = r.subfields(5)
    extractor = ofr[0][2] if ofr and len(ofr[0]) > 2 else "received Type-9"
    return MinutiaeView(int(position), MinutiaeTemplate(width, height, ppi, minutiae, extractor))

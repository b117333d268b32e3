"""Plain data that flows through the face pipeline, shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageBGR = npt.NDArray[np.uint8]

# Landmark order used everywhere: image-left eye, image-right eye, nose tip,
# image-left mouth corner, image-right mouth corner (SCRFD, YuNet and ArcFace agree).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "left_mouth", "right_mouth")


@dataclass(frozen=True)
class DetectedFace:
    """One face found by a detector, in the pixel coordinates of the image it was found in."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    landmarks: FloatArray  # shape (5, 2), LANDMARK_NAMES order
    score: float

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def scaled(self, factor: float, dx: float = 0.0, dy: float = 0.0) -> DetectedFace:
        """The same face in another image's coordinates: multiply by factor, then shift."""
        x1, y1, x2, y2 = self.box
        box = (x1 * factor + dx, y1 * factor + dy, x2 * factor + dx, y2 * factor + dy)
        shift = np.array([dx, dy], dtype=np.float32)
        return DetectedFace(box, (self.landmarks * factor + shift).astype(np.float32), self.score)

"""YuNet face detector run by onnxruntime, with its anchor decoding as small pure functions.

Running it through onnxruntime (not cv2.FaceDetectorYN) keeps one provider and thread policy
for every model; the decoding follows MODELS.md and is checked against OpenCV in the tests.
"""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort

from models.faces import DetectedFace, FloatArray, ImageBGR

STRIDES = (8, 16, 32)


def pad_to_stride(image: ImageBGR, stride: int = 32) -> ImageBGR:
    """Zero-pad right and bottom so both sides are multiples of `stride`."""
    height, width = image.shape[:2]
    pad_h, pad_w = (-height) % stride, (-width) % stride
    if not pad_h and not pad_w:
        return image
    padded = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return np.asarray(padded, dtype=np.uint8)


def to_blob(image: ImageBGR) -> FloatArray:
    """BGR uint8 HxWx3 to float32 1x3xHxW, raw 0..255 (YuNet has no normalisation)."""
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None].astype(np.float32))


def decode_stride(
    outputs: dict[str, np.ndarray], stride: int, height: int, width: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Scores, boxes (x1,y1,x2,y2) and 5 landmarks for every anchor of one stride."""
    cols, rows = width // stride, height // stride
    cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
    obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
    bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
    kps = outputs[f"kps_{stride}"].reshape(-1, 10)
    grid_y, grid_x = np.mgrid[0:rows, 0:cols]
    anchors = np.stack([grid_x.reshape(-1), grid_y.reshape(-1)], axis=1).astype(np.float32)
    centres = (anchors + bbox[:, :2]) * stride
    sizes = np.exp(bbox[:, 2:4]) * stride
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    landmarks = (kps.reshape(-1, 5, 2) + anchors[:, None, :]) * stride
    return np.sqrt(cls * obj).astype(np.float32), boxes, landmarks.astype(np.float32)


def non_max_suppression(
    scores: FloatArray, boxes: FloatArray, score_threshold: float, iou_threshold: float
) -> list[int]:
    """Indices of the boxes kept, best first."""
    keep_mask = scores >= score_threshold
    if not keep_mask.any():
        return []
    candidates = np.flatnonzero(keep_mask)
    xywh = [
        [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]
        for b in boxes[candidates]
    ]
    kept = cv2.dnn.NMSBoxes(xywh, scores[candidates].tolist(), score_threshold, iou_threshold)
    order = [int(candidates[i]) for i in np.asarray(kept).reshape(-1)]
    return sorted(order, key=lambda i: -float(scores[i]))


class YunetDetector:
    """YuNet on an onnxruntime session; input size follows each image (padded to 32)."""

    def __init__(
        self, session: ort.InferenceSession, score_threshold: float = 0.6, nms_iou: float = 0.3
    ) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_names = [o.name for o in session.get_outputs()]
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou

    def detect(self, image: ImageBGR) -> list[DetectedFace]:
        """Every face above the score threshold, in the image's pixel coordinates."""
        padded = pad_to_stride(image)
        height, width = padded.shape[:2]
        raw = self.session.run(self.output_names, {self.input_name: to_blob(padded)})
        outputs = dict(zip(self.output_names, raw, strict=True))
        decoded = [decode_stride(outputs, s, height, width) for s in STRIDES]
        scores = np.concatenate([d[0] for d in decoded])
        boxes = np.concatenate([d[1] for d in decoded])
        landmarks = np.concatenate([d[2] for d in decoded])
        kept = non_max_suppression(scores, boxes, self.score_threshold, self.nms_iou)
        return [
            DetectedFace(tuple(float(v) for v in boxes[i]), landmarks[i], float(scores[i]))  # type: ignore[arg-type]
            for i in kept
        ]

"""Regenerate tests/fixtures/leader_synthetic.npz: pyfing's own LEADER (Keras) on a synthetic print.

Runs OUTSIDE the project's venv, in a scratch one with TensorFlow (never a project dependency):

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu keras pyfing==0.7.3 \
        opencv-python-headless scipy
    /tmp/tf/bin/python scripts/leader_fixture.py tests/fixtures/leader_synthetic.npz

The image is generated here from a seed (ridges with a few phase singularities, which LEADER
reads as minutiae), never taken from a real fingerprint set. The fixture holds the image and
Keras's four output maps, NHWC as Keras gives them; tests/unit/test_leader_equivalence.py runs
the ONNX conversion on the same image and compares.
"""

from __future__ import annotations

import os
import sys

import numpy as np

SEED, HEIGHT, WIDTH, PERIOD = 12, 128, 96, 9.0


def synthetic_print(seed: int = SEED) -> np.ndarray:
    """Curved ridges of a 9 px period with four phase singularities, light noise, dark ridges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    phase = 2 * np.pi * (x * 0.8 + y * 0.6 + 0.002 * (x - 40) ** 2) / PERIOD
    for _ in range(4):
        cy, cx = rng.uniform(20, HEIGHT - 20), rng.uniform(20, WIDTH - 20)
        phase += rng.choice([-1.0, 1.0]) * np.arctan2(y - cy, x - cx)
    image = 128 + 90 * np.cos(phase) + rng.normal(0, 8, phase.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def main(out: str) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pyfing.minutiae_end_to_end import Leader  # imports keras: only in the scratch venv

    image = synthetic_print()
    maps = Leader().model(image[np.newaxis, ..., np.newaxis], training=False).numpy()[0]
    np.savez_compressed(out, image=image, maps=maps.astype(np.float32))
    print(
        f"wrote {out}: image {image.shape}, maps {maps.shape}, {int((maps[..., 3] >= 0.6).sum())} minutiae"
    )


if __name__ == "__main__":
    main(sys.argv[1])

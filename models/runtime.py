"""ONNX Runtime sessions sized for the machine: provider choice and thread count."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import onnxruntime as ort

from models.errors import ModelLoadError

DEFAULT_PROVIDER_PREFERENCE = (
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)

# det_500m logs a shape warning on every run at inputs other than 640; errors still surface.
ort.set_default_logger_severity(3)


def choose_providers(preference: Sequence[str] = DEFAULT_PROVIDER_PREFERENCE) -> list[str]:
    """The preferred providers this onnxruntime build actually has, CPU always last."""
    available = set(ort.get_available_providers())
    chosen = [p for p in preference if p in available and p != "CPUExecutionProvider"]
    return [*chosen, "CPUExecutionProvider"]


def physical_cores() -> int:
    """Cores we may run on, counting SMT siblings once (oversubscribing is 3-4x slower)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not allowed:
        return os.cpu_count() or 1
    cores: set[str] = set()
    for cpu in allowed:
        siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def create_session(
    path: Path, providers: Sequence[str], threads: int | None = None
) -> ort.InferenceSession:
    """An inference session on `path`, translating onnxruntime's failures into ModelLoadError."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Four sessions (detector, recogniser, two anti-spoof) share two cores; threads that keep
    # spinning after a run starve the next session. Measured: frame to template 4x faster.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        raise ModelLoadError.for_file(str(path), f"onnxruntime could not load it: {exc}") from exc

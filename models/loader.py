"""Building a FaceEngine from a model pack: verify every file, open sessions, wire the stages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.detector import FaceDetector, ScrfdDetector
from models.embedder import FaceEmbedder
from models.engine import EngineOptions, FaceEngine
from models.errors import ModelLoadError
from models.liveness import AntiSpoofBranch, LivenessModel
from models.manifest import ModelFile, ModelPack
from models.runtime import create_session
from models.store import ModelStore
from models.yunet import YunetDetector


@dataclass(frozen=True)
class RuntimeChoice:
    """Which execution providers and how many threads every session gets."""

    providers: Sequence[str]
    threads: int | None = None


def load_engine(
    store: ModelStore,
    pack: ModelPack,
    runtime: RuntimeChoice,
    options: EngineOptions | None = None,
    liveness: bool = True,
    liveness_threshold: float | None = None,
) -> FaceEngine:
    """A ready engine; raises ModelNotReady / DigestMismatch naming the file at fault."""
    detector = _load_detector(store, pack.file_for("detector"), runtime)
    recogniser = pack.file_for("recogniser")
    session = create_session(store.verified_path(recogniser), runtime.providers, runtime.threads)
    embedder = FaceEmbedder(session, recogniser.kind, flip=pack.flip)
    if embedder.dimension != pack.embedding_dim:
        raise ModelLoadError.for_file(
            str(store.path_of(recogniser)),
            f"produces {embedder.dimension}-d templates, pack {pack.id} declares {pack.embedding_dim}",
        )
    live = _load_liveness(store, pack, runtime, liveness_threshold) if liveness else None
    return FaceEngine(pack.id, detector, embedder, live, options)


def _load_detector(store: ModelStore, file: ModelFile, runtime: RuntimeChoice) -> FaceDetector:
    path = store.verified_path(file)
    session = create_session(path, runtime.providers, runtime.threads)
    threshold = float(file.options.get("score_threshold", 0.5))
    if file.kind == "yunet":
        return YunetDetector(session, threshold, float(file.options.get("nms_iou", 0.3)))
    if file.kind == "scrfd":
        return ScrfdDetector(session, str(path), threshold)
    raise ModelLoadError.for_file(str(path), f"unknown detector kind {file.kind!r}")


def _load_liveness(
    store: ModelStore, pack: ModelPack, runtime: RuntimeChoice, threshold: float | None
) -> LivenessModel | None:
    files = pack.files_for("antispoof")
    if not files:
        return None
    # 80x80 inputs are too small to split across cores: a second thread only adds overhead.
    branches = [
        AntiSpoofBranch(
            create_session(store.verified_path(f), runtime.providers, threads=1),
            float(f.options["crop_scale"]),
        )
        for f in files
    ]
    return LivenessModel(branches, threshold)


@dataclass(frozen=True)
class EngineSpec:
    """Everything needed to build an engine, picklable so worker processes can build their own."""

    store: ModelStore
    pack: ModelPack
    runtime: RuntimeChoice
    options: EngineOptions
    liveness: bool = True
    liveness_threshold: float | None = None

    def build(self) -> FaceEngine:
        """Load the engine this spec describes."""
        return load_engine(
            self.store,
            self.pack,
            self.runtime,
            self.options,
            self.liveness,
            self.liveness_threshold,
        )

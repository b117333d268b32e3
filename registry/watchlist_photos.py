"""Watchlist entries from photos: the registry embeds them with the national gallery's own pack.

An adjudicator at /pusat holds a photo (a warrant, a site's report), not a base64 vector. So the
registry loads the pack's face engine itself, from REGISTRY_MODEL_DIR, verified by sha256 as a
site does, on first use (most registries never add an entry by photo; the engine costs memory).
The templates come from the same pack as the national gallery, so every site's gate compares
like with like. Without the model folder the answer is a 503 naming the setting; the template API
stays for a registry without models.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import numpy as np

from models.engine import FaceEngine
from models.loader import RuntimeChoice, load_engine
from models.manifest import load_packs
from models.obtain import ensure_converted
from models.runtime import choose_providers
from models.store import ModelStore
from registry.errors import RegistryFacesUnavailable

MAX_PHOTOS = 5


class WatchlistPhotos:
    """Turns officers' photos into templates of the national gallery's pack."""

    def __init__(self, model_dir: Path | None, cache_dir: Path, pack_id: str) -> None:
        self.model_dir, self.cache_dir, self.pack_id = model_dir, cache_dir, pack_id
        self._engine: FaceEngine | None = None
        self._lock = threading.Lock()

    def templates(self, photos: list[bytes]) -> list[str]:
        """One base64 float32 LE template per photo; the model errors (no face...) as they are."""
        engine = self._loaded()
        vectors = [engine.analyse_bytes(photo).template for photo in photos]
        return [base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode() for v in vectors]

    def _loaded(self) -> FaceEngine:
        if self.model_dir is None or not self.model_dir.is_dir():
            raise RegistryFacesUnavailable(
                setting="REGISTRY_MODEL_DIR", model_dir=str(self.model_dir)
            )
        with self._lock:
            if self._engine is None:
                store = ModelStore(self.model_dir, self.cache_dir)
                pack = load_packs(self.model_dir)[self.pack_id]
                ensure_converted(store, pack)  # the dlib network is converted once, as at a site
                self._engine = load_engine(
                    store,
                    pack,
                    RuntimeChoice(choose_providers(), threads=1),
                    liveness=False,  # a photo of a photo is what an officer uploads, on purpose
                )
            return self._engine

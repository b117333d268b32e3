"""The pack's missing model files, fetched on the service's first start where there is internet.

A fresh site with a route to the internet should not need an officer to run `gerbang models
fetch`: at start, the files of the configured pack that are absent from EDGE_MODEL_DIR are
downloaded in the background from their pinned addresses, each checked against its sha256 before
it is moved into place (models/obtain.py). `/ready` answers 503 `models_fetching` with the file
and bytes so far; once every file is in place the service loads the pack. Without a route (the
usual case at a prison), the fetch fails within seconds and `/ready` says exactly which file to
place where, with its sha256, or to carry a bundle (`gerbang models install`). A file that is
present but differs from its digest is never replaced: that is a refusal, not a gap.

Errors added under kernel/errors.py's tree:
Unavailable
└─ ModelsFetching  models_fetching  503: downloading the pack's missing files, wait
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable, Sequence
from typing import IO, Any

from kernel.errors import GerbangError, Message, Unavailable
from models.errors import ModelNotReady
from models.manifest import ModelFile, ModelPack
from models.obtain import fetch, offline_instructions
from models.store import ModelStore

log = logging.getLogger(__name__)


class ModelsFetching(Unavailable):
    code = "models_fetching"
    message = Message(
        "Berkas model sedang diunduh untuk pertama kali; tunggu lalu coba lagi.",
        "The model files are being downloaded for the first time; wait and try again.",
    )


def missing_files(store: ModelStore, pack: ModelPack) -> list[ModelFile]:
    """The pack's downloadable files absent from the model folder (converted ones are made here).
    Only their presence: loading the pack checks every digest anyway, so hashing here would read
    each file twice at every start; a present file with the wrong digest is refused there."""
    return [f for f in pack.files if f.conversion is None and not store.path_of(f).exists()]


class _Counting:
    """A response that counts what is read from it into the fetch's progress."""

    def __init__(self, response: IO[bytes], progress: dict[str, Any]) -> None:
        self.response, self.progress = response, progress

    def read(self, size: int = -1) -> bytes:
        block = self.response.read(size)
        self.progress["bytes"] += len(block)
        return block

    def __enter__(self) -> _Counting:
        return self

    def __exit__(self, *exc: object) -> None:
        self.response.close()


class ModelFetch:
    """Downloads missing files in the background; `problem` says what is happening or what to do."""

    def __init__(self, opener: Callable[..., Any] = urllib.request.urlopen) -> None:
        self.opener = opener
        self.problem: GerbangError | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a fetch is under way."""
        return self._thread is not None and self._thread.is_alive()

    def start(
        self, store: ModelStore, files: Sequence[ModelFile], done: Callable[[], None]
    ) -> None:
        """Fetch `files` into the store's model folder, then call `done` (succeeded or not:
        `problem` is None or says what to do)."""
        if self.running:
            return
        names = [f.name for f in files]
        self.problem = ModelsFetching(files=names, file=names[0], files_done=0, bytes=0,
                                      total_bytes=sum(f.size or 0 for f in files))  # fmt: skip
        self._thread = threading.Thread(
            target=self._run, args=(store, list(files), done), name="model-fetch", daemon=True
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the fetch has finished (tests, and the CLI)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, store: ModelStore, files: list[ModelFile], done: Callable[[], None]) -> None:
        assert self.problem is not None
        progress = self.problem.details
        for number, file in enumerate(files):
            progress.update(file=file.name, files_done=number)
            log.info(
                "fetching model file %s (%d of %d) from %s",
                file.name,
                number + 1,
                len(files),
                file.url,
            )
            try:
                fetch(
                    store,
                    file,
                    lambda url, timeout: _Counting(self.opener(url, timeout=timeout), progress),
                )
            except Exception as exc:
                self.problem = self._refused(store, files[number:], exc)
                log.error("model files not fetched: %s", exc)
                done()
                return
        progress.update(files_done=len(files))
        log.info("model files fetched: %s", ", ".join(f.name for f in files))
        self.problem = None
        done()

    @staticmethod
    def _refused(store: ModelStore, left: list[ModelFile], exc: Exception) -> ModelNotReady:
        place = " ".join(offline_instructions(f, exc) for f in left)
        return ModelNotReady(
            role="pack", path=str(store.model_dir), fetch_failed=str(exc), files=[f.name for f in left],
            fix=f"Point EDGE_MODEL_DIR (now {store.model_dir.resolve()}) at the folder that holds the"
            f" models; or {place} Or carry a bundle made where the files are: `gerbang models install FILE`.",
        )  # fmt: skip

"""The pack's missing model files, fetched on the service's first start where there is internet.

A fresh site with a route to the internet should not need an officer to run `gerbang models
fetch`: at start, the files of the configured pack that are absent from EDGE_MODEL_DIR are
downloaded in the background from their pinned addresses, each checked against its sha256 before
it is moved into place (models/obtain.py). `/ready` answers 503 `models_fetching` with the file
and bytes so far; once every file is in place the service loads the pack. Without a route (the
usual case at a prison), the fetch fails within seconds and `/ready` says exactly which file to
place where, with its sha256, or to carry a bundle (`gerbang models install`): `/ready` answers
503 `models_fetch_failed`, and a command that needs the models (`gerbang gate run`) waits for the
fetch to end and exits with the same error. A file that is present but differs from its digest is
never replaced: that is a refusal, not a gap.

Errors added under kernel/errors.py's tree:
Unavailable
├─ ModelsFetching    models_fetching      503: downloading the pack's missing files, wait
└─ ModelsFetchFailed models_fetch_failed  503: the download failed; details say what to place where
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable, Sequence
from typing import IO, Any

from kernel.errors import GerbangError, Message, Unavailable
from models.manifest import ModelFile, ModelPack
from models.obtain import FetchError, fetch, placement
from models.store import ModelStore

log = logging.getLogger(__name__)


class ModelsFetching(Unavailable):
    code = "models_fetching"
    message = Message(
        "Berkas model sedang diunduh untuk pertama kali; tunggu lalu coba lagi.",
        "The model files are being downloaded for the first time; wait and try again.",
    )


class ModelsFetchFailed(Unavailable):
    code = "models_fetch_failed"
    message = Message(
        "Berkas model tidak dapat diunduh (tidak ada jalur internet?). Letakkan tiap berkas yang"
        " kurang seperti tertulis di `fix`, atau pasang paket model dari USB:"
        " `gerbang models install BERKAS`.",
        "The model files could not be downloaded (no route to the internet?). Place each missing"
        " file as `fix` says, or install a model bundle from a USB stick:"
        " `gerbang models install FILE`.",
    )

    @classmethod
    def leaving(
        cls, store: ModelStore, left: Sequence[ModelFile], exc: Exception
    ) -> ModelsFetchFailed:
        """The refusal once fetching `left[0]` failed with `exc`: the reason once, then each file
        left with its own address, sha256 and place (technical detail in English)."""
        first, folder = left[0], store.model_dir.resolve()
        reason = (exc.reason if isinstance(exc, FetchError) else str(exc)).rstrip(".")
        fix = (
            f"Arahkan EDGE_MODEL_DIR (sekarang {folder}) ke folder berisi model, letakkan tiap"
            " berkas di bawah seperti tertulis, atau pasang paket dari komputer yang memiliki"
            " model: `gerbang models install BERKAS`. / Point EDGE_MODEL_DIR (now"
            f" {folder}) at the folder that holds the models, place each file below as it says,"
            " or install a bundle made on a machine that has them: `gerbang models install FILE`."
            f" Could not download {first.url or first.name}: {reason}."
        )
        files = [_wanted(f) for f in left]
        fix += "".join(f" ({n}) {placement(f)}" for n, f in enumerate(left, 1))
        return cls(path=str(folder), fetch_failed={"file": first.name, "url": first.url,
                   "reason": reason}, files=files, fix=fix)  # fmt: skip


def _wanted(file: ModelFile) -> dict[str, Any]:
    """A file left to place, as /ready lists it."""
    wanted = {"name": file.name, "url": file.url, "sha256": file.sha256,
              "place_at": f"<EDGE_MODEL_DIR>/{file.path}"}  # fmt: skip
    if file.archive_member:
        wanted["archive_member"] = file.archive_member
    return wanted


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
                self.problem = ModelsFetchFailed.leaving(store, files[number:], exc)
                log.error("model file %s not fetched: %s", file.name, exc)
                done()
                return
        progress.update(files_done=len(files))
        log.info("model files fetched: %s", ", ".join(f.name for f in files))
        self.problem = None
        done()

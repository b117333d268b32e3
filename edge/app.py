"""The site service's HTTP application: `create_app(settings)` builds it once, with its engine.

The engine loads at start-up; if a model is missing the service still starts, answers health,
reports not-ready with the exact fix, and every face endpoint answers 503 `model_not_ready`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, File, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from edge import wiring
from edge.errors import EdgeError, ImageTooLarge, InputError, Message, ModelNotReady
from edge.schemas import (
    AnalyseResponse,
    CompareResponse,
    HealthResponse,
    ReadyResponse,
    analysis_body,
)
from edge.settings import Settings
from models.calibration import Calibration
from models.engine import FaceAnalysis, FaceEngine, cosine
from models.imaging import check_content_type
from models.obtain import ensure_converted


class EngineHolder:
    """The loaded engine and calibration, or the error that kept them from loading."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: FaceEngine | None = None
        self.calibration: Calibration | None = None
        self.error: EdgeError | None = None

    def load(self) -> None:
        """Load (or fail to load, recording why) the configured pack and its calibration."""
        try:
            spec = wiring.engine_spec(self.settings)
            ensure_converted(spec.store, spec.pack)
            self.engine = spec.build()
            self.calibration = Calibration.load(
                wiring.calibration_path(self.settings, self.engine.pack_id)
            )
        except EdgeError as exc:
            self.error = exc
        except (OSError, ValueError) as exc:
            self.error = ModelNotReady.missing("calibration", str(exc), "gerbang calibrate DIR")

    def require(self) -> tuple[FaceEngine, Calibration]:
        """The engine, or the 503 that explains why there is none."""
        if self.engine is None or self.calibration is None:
            raise self.error or ModelNotReady.missing("engine", "", "wait for start-up")
        return self.engine, self.calibration


def _error_response(exc: EdgeError) -> JSONResponse:
    return JSONResponse(exc.to_payload(), status_code=exc.status)


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    error = InputError(
        Message(
            "Permintaan tidak lengkap atau salah format.", "The request is incomplete or malformed."
        ),
        {"problems": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
    )
    return _error_response(error)


async def _read_upload(upload: UploadFile, settings: Settings) -> bytes:
    """The upload's bytes, refusing a wrong declared type or a size over the cap early."""
    check_content_type(upload.content_type)
    data = await upload.read(settings.images.max_bytes + 1)
    if len(data) > settings.images.max_bytes:
        raise ImageTooLarge.exceeding("bytes", len(data), settings.images.max_bytes)
    return data


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service, configured once from settings."""
    settings = settings or Settings()
    holder = EngineHolder(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(holder.load)
        yield

    app = FastAPI(title="Gerbang site service", version="0.1.0", lifespan=lifespan)
    app.state.holder = holder
    app.add_exception_handler(EdgeError, lambda _r, e: _error_response(e))  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, lambda _r, e: _validation_response(e))  # type: ignore[arg-type]
    _routes(app, holder)
    return app


def _routes(app: FastAPI, holder: EngineHolder) -> None:
    settings = holder.settings

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        """The process is up (it may still be loading models)."""
        return HealthResponse(status="ok")

    @app.get("/ready", response_model=ReadyResponse)
    def ready() -> JSONResponse:
        """Models loaded and verified; 503 with the fix when not."""
        if holder.engine is not None and holder.calibration is not None:
            body = ReadyResponse(ready=True, pack=holder.engine.pack_id, problem=None)
            return JSONResponse(body.model_dump(), status_code=200)
        problem = holder.error.to_payload()["error"] if holder.error else None
        body = ReadyResponse(ready=False, pack=settings.pack, problem=problem)
        return JSONResponse(body.model_dump(), status_code=503)

    async def analyse(upload: UploadFile) -> FaceAnalysis:
        engine, _ = holder.require()
        data = await _read_upload(upload, settings)
        return await run_in_threadpool(engine.analyse_bytes, data)

    @app.post("/v1/faces/analyse", response_model=AnalyseResponse)
    async def analyse_face(image: Annotated[UploadFile, File()]) -> AnalyseResponse:
        """Find the subject's face: box, landmarks, quality with reasons, liveness, template."""
        result = await analyse(image)
        return AnalyseResponse(pack=holder.require()[0].pack_id, **analysis_body(result))

    @app.post("/v1/faces/compare", response_model=CompareResponse)
    async def compare_faces(
        probe: Annotated[UploadFile, File()], reference: Annotated[UploadFile, File()]
    ) -> CompareResponse:
        """1:1: are two photos the same person, at the configured target FMR?"""
        engine, calibration = holder.require()
        first, second = await analyse(probe), await analyse(reference)
        target = settings.match.verify_fmr
        threshold = calibration.threshold_for(target)
        score = cosine(first.template, second.template)
        return CompareResponse(
            pack=engine.pack_id,
            score=score,
            threshold=threshold,
            target_fmr=target,
            threshold_supported=calibration.point_for(target).supported,
            match=score >= threshold,
            probe=analysis_body(first, include_template=False),
            reference=analysis_body(second, include_template=False),
        )

"""The gate is answered while the desk floods: desk analyses hold at most their slots, the rest
wait in a short queue or get 503 `overloaded` with Retry-After, and a gate passage goes ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from edge.work import WorkSettings
from httpkit.work import WorkQueue
from tests.integration.conftest import SiteClient, make_site_client, photo

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def busy_site(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteClient]:
    work = WorkSettings(slots=2, desk_slots=1, desk_waiting=2, desk_wait_seconds=60)
    yield from make_site_client(model_dir, tmp_path_factory.mktemp("busy"), work=work)


def wait_until(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_gate_passage_is_answered_while_desk_analyses_are_queued(
    busy_site: SiteClient, dev_faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = busy_site
    assert sc.client.post(
        "/v1/gates", headers=sc.as_role("site_admin"),
        json={"id": "main", "name": "Main", "directions": ["in", "out"], "roles": ["staff"]},
    ).status_code in (201, 409)  # fmt: skip
    engine = sc.site.engine()
    desk_may_finish = threading.Event()
    real_analyse = engine.analyse_bytes

    def slow_desk_analysis(data: bytes) -> Any:  # the desk's work, held until the gate is done
        desk_may_finish.wait(120)  # set once the gate has answered
        return real_analyse(data)

    monkeypatch.setattr(engine, "analyse_bytes", slow_desk_analysis)
    queue: WorkQueue = sc.client.app.state.work  # type: ignore[attr-defined]
    officer = sc.as_role("enrolment_officer")
    face = photo(dev_faces, "facerec-obama/1.jpg")

    def desk() -> Any:
        return sc.client.post("/v1/faces/analyse", files={"image": face}, headers=officer)

    with ThreadPoolExecutor(4) as pool:
        flooding = [pool.submit(desk) for _ in range(3)]
        wait_until(lambda: queue.running["desk"] == 1 and queue.waiting("desk") == 2)
        refused = desk()  # a fourth desk request: the desk queue is full
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
        assert int(refused.headers["Retry-After"]) >= 1

        started = time.monotonic()
        passage = sc.client.post(
            "/v1/gates/main/staff",
            files={"image": photo(dev_faces, "facerec-obama/2.jpg")},
            data={"direction": "in"},
            headers=sc.as_role("device"),
        )
        gate_seconds = time.monotonic() - started
        assert passage.status_code == 200, passage.text
        assert passage.json()["result"] in ("admit", "deny")
        assert queue.waiting("desk") == 2 and not desk_may_finish.is_set()  # desk still queued
        desk_may_finish.set()
        answers = [f.result(timeout=60) for f in flooding]
    assert [a.status_code for a in answers] == [200, 200, 200]
    # Far under the desk's 120 s hold and 60 s queue wait: the gate did not wait behind the desk.
    assert gate_seconds < 30
    assert queue.running == {"gate": 0, "desk": 0}

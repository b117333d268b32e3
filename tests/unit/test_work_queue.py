"""Heavy work bounded: a few slots, desk work capped below them, a waiting gate passage served
before any desk request, and an overloaded request refused at once instead of queued."""

from __future__ import annotations

import asyncio

import pytest

from httpkit.work import Overloaded, WorkLimits, WorkQueue


async def hold(queue: WorkQueue, kind: str, release: asyncio.Event, order: list[str]) -> str:
    async with queue.slot(kind):  # type: ignore[arg-type]
        order.append(kind)
        await release.wait()
    return kind


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_waiting_gate_passage_takes_the_next_slot_before_earlier_desk_requests() -> None:
    async def scenario() -> list[str]:
        queue, order = WorkQueue(WorkLimits(slots=1, desk_slots=1)), []
        first, rest = asyncio.Event(), asyncio.Event()
        running = asyncio.create_task(hold(queue, "desk", first, order))
        await settle()
        waiting_desk = [asyncio.create_task(hold(queue, "desk", rest, order)) for _ in range(2)]
        await settle()
        gate = asyncio.create_task(hold(queue, "gate", rest, order))
        await settle()
        assert (queue.waiting("desk"), queue.waiting("gate")) == (2, 1)
        first.set()
        await running
        await settle()
        rest.set()
        await asyncio.gather(gate, *waiting_desk)
        return order

    assert asyncio.run(scenario()) == ["desk", "gate", "desk", "desk"]


def test_desk_work_never_takes_the_gates_last_slot() -> None:
    async def scenario() -> None:
        queue, order, release = WorkQueue(WorkLimits(slots=2, desk_slots=1)), [], asyncio.Event()
        tasks = [asyncio.create_task(hold(queue, "desk", release, order)) for _ in range(2)]
        await settle()
        assert queue.running == {"gate": 0, "desk": 1} and queue.waiting("desk") == 1
        gate = asyncio.create_task(hold(queue, "gate", release, order))
        await settle()
        assert queue.running == {"gate": 1, "desk": 1}  # started at once, desk still waiting
        release.set()
        await asyncio.gather(gate, *tasks)
        assert queue.running == {"gate": 0, "desk": 0}

    asyncio.run(scenario())


def test_a_full_desk_queue_is_refused_at_once_with_a_retry_time() -> None:
    async def scenario() -> None:
        limits = WorkLimits(slots=2, desk_slots=1, desk_waiting=2, retry_after_seconds=4)
        queue, order, release = WorkQueue(limits), [], asyncio.Event()
        tasks = [asyncio.create_task(hold(queue, "desk", release, order)) for _ in range(3)]
        await settle()
        with pytest.raises(Overloaded) as refused:
            async with queue.slot("desk"):
                pass
        assert refused.value.status == 503 and refused.value.code == "overloaded"
        assert refused.value.details["retry_after_s"] == 4
        assert refused.value.details["reason"] == "queue_full"
        release.set()
        await asyncio.gather(*tasks)
        assert queue.refused == {"gate": 0, "desk": 1}

    asyncio.run(scenario())


def test_a_request_waiting_too_long_gets_overloaded_and_leaks_no_slot() -> None:
    async def scenario() -> None:
        queue = WorkQueue(WorkLimits(slots=1, desk_slots=1, desk_wait_seconds=0.05))
        order: list[str] = []
        release = asyncio.Event()
        busy = asyncio.create_task(hold(queue, "desk", release, order))
        await settle()
        with pytest.raises(Overloaded) as refused:
            async with queue.slot("desk"):
                pass
        assert refused.value.details["reason"] == "waited_too_long"
        cancelled = asyncio.create_task(hold(queue, "desk", release, order))
        await settle()
        cancelled.cancel()  # the client went away while waiting
        await settle()
        release.set()
        await busy
        assert queue.running == {"gate": 0, "desk": 0} and queue.waiting("desk") == 0
        async with queue.slot("desk"):  # the slot came back
            assert queue.running["desk"] == 1

    asyncio.run(scenario())

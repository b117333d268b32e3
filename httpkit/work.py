"""Heavy work bounded so a gate stays fast under load: a few slots, the gate served first.

Face analysis and finger extraction take a core each for tens to hundreds of milliseconds. With
nothing bounding them, a desk flooding frames (or a batch) queues dozens of analyses in the
thread pool, and a visitor at the gate waits behind all of them. `WorkQueue` gives heavy work
`slots` places at once (the cores); desk work may hold at most `desk_slots` of them, so a gate
passage always finds a slot free or next; when a slot frees, a waiting gate passage takes it
before any desk request. A request that would wait beyond its queue's length or its wait time
is answered at once with 503 `overloaded` and `Retry-After`, rather than queuing without end.

One queue per app, used from the event loop only (no locks needed): `async with queue.slot(
"gate"): ...` around the work, or the route dependency that `slot_dependency` makes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from kernel.errors import Message, Unavailable

Kind = Literal["gate", "desk"]


class Overloaded(Unavailable):
    code = "overloaded"
    message = Message(
        "Sistem sedang sibuk memproses permintaan lain. Coba lagi dalam beberapa detik.",
        "The service is busy with other requests. Try again in a few seconds.",
    )


@dataclass(frozen=True)
class WorkLimits:
    """How much heavy work runs at once and how much may wait (defaults: a 2-core site PC)."""

    slots: int = 2
    desk_slots: int = 1
    gate_waiting: int = 16
    desk_waiting: int = 4
    gate_wait_seconds: float = 10.0
    desk_wait_seconds: float = 15.0
    retry_after_seconds: int = 3

    def waiting(self, kind: Kind) -> int:
        return self.gate_waiting if kind == "gate" else self.desk_waiting

    def wait_seconds(self, kind: Kind) -> float:
        return self.gate_wait_seconds if kind == "gate" else self.desk_wait_seconds


class WorkQueue:
    """Slots for heavy work, handed to waiting gate passages before desk requests."""

    def __init__(self, limits: WorkLimits | None = None) -> None:
        self.limits = limits or WorkLimits()
        self.running: dict[Kind, int] = {"gate": 0, "desk": 0}
        self._waiting: dict[Kind, deque[asyncio.Future[None]]] = {"gate": deque(), "desk": deque()}
        self.refused: dict[Kind, int] = {"gate": 0, "desk": 0}

    def waiting(self, kind: Kind) -> int:
        """Requests of a kind waiting for a slot now."""
        return sum(1 for future in self._waiting[kind] if not future.done())

    @asynccontextmanager
    async def slot(self, kind: Kind) -> AsyncIterator[None]:
        """Hold one slot for the work inside; raise Overloaded when none comes in time."""
        await self._acquire(kind)
        try:
            yield
        finally:
            self._release(kind)

    def _may_start(self, kind: Kind) -> bool:
        if sum(self.running.values()) >= self.limits.slots:
            return False
        return kind == "gate" or self.running["desk"] < self.limits.desk_slots

    async def _acquire(self, kind: Kind) -> None:
        ahead = self.waiting("gate") + (self.waiting("desk") if kind == "desk" else 0)
        if not ahead and self._may_start(kind):
            self.running[kind] += 1
            return
        if self.waiting(kind) >= self.limits.waiting(kind):
            raise self._overloaded(kind, "queue_full")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[kind].append(turn)
        try:
            await asyncio.wait_for(turn, self.limits.wait_seconds(kind))
        except TimeoutError:
            raise self._overloaded(kind, "waited_too_long") from None
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # handed a slot just as the client left
                self._release(kind)
            raise

    def _release(self, kind: Kind) -> None:
        self.running[kind] -= 1
        for next_kind in ("gate", "desk"):
            while self._waiting[next_kind] and self._may_start(next_kind):
                turn = self._waiting[next_kind].popleft()
                if not turn.done():
                    self.running[next_kind] += 1
                    turn.set_result(None)

    def _overloaded(self, kind: Kind, why: str) -> Overloaded:
        self.refused[kind] += 1
        return Overloaded(
            kind=kind,
            reason=why,
            running=sum(self.running.values()),
            waiting=self.waiting(kind),
            retry_after_s=self.limits.retry_after_seconds,
        )


def slot_dependency(
    queue_of: Callable[[Request], WorkQueue], kind: Kind
) -> Callable[[Request], AsyncIterator[None]]:
    """A route dependency holding a slot of `kind` while the route runs; `queue_of(request)`
    finds the app's queue."""

    async def hold(request: Request) -> AsyncIterator[None]:
        async with queue_of(request).slot(kind):
            yield

    return hold

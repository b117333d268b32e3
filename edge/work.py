"""The site's bound on heavy work: its settings and the route dependencies that hold a slot.

Gate passages hold a "gate" slot, desk and batch requests (captures, identify, verify, compare,
fingers) a "desk" slot, of the app's one `httpkit.work.WorkQueue` (see there for the rule).
"""

from __future__ import annotations

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from httpkit.work import WorkLimits, WorkQueue, slot_dependency


class WorkSettings(BaseModel):
    """How much heavy work (face analysis, finger extraction) runs at once and may wait."""

    model_config = ConfigDict(extra="forbid")

    slots: int = Field(2, ge=1, le=64, description="Heavy requests running at once: the cores.")
    desk_slots: int = Field(
        1, ge=1, le=64, description="Of those, most held by desk and batch work (the rest are the gate's)."
    )  # fmt: skip
    gate_waiting: int = Field(
        16, ge=0, le=1000, description="Gate passages that may wait for a slot."
    )
    desk_waiting: int = Field(
        4, ge=0, le=1000, description="Desk requests that may wait; more get 503."
    )
    gate_wait_seconds: float = Field(
        10.0, gt=0, le=120, description="Longest a gate passage waits."
    )
    desk_wait_seconds: float = Field(
        15.0, gt=0, le=300, description="Longest a desk request waits."
    )
    retry_after_seconds: int = Field(3, ge=1, le=300, description="Retry-After of an overloaded answer.")  # fmt: skip

    def limits(self) -> WorkLimits:
        """The queue's limits; desk slots never exceed all slots."""
        return WorkLimits(
            self.slots, min(self.desk_slots, self.slots), self.gate_waiting, self.desk_waiting,
            self.gate_wait_seconds, self.desk_wait_seconds, self.retry_after_seconds,
        )  # fmt: skip


def work_queue(request: Request) -> WorkQueue:
    """The app's queue."""
    queue: WorkQueue = request.app.state.work
    return queue


GATE_WORK = Depends(slot_dependency(work_queue, "gate"))
DESK_WORK = Depends(slot_dependency(work_queue, "desk"))

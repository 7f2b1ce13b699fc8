"""Hold decisions, handed out again from one cycle to the next.

A busy pool holds thousands of jobs every cycle, mostly for the reasons of the cycle before, and a
frozen dataclass costs several dict lookups to make. A Hold is a value: the last cycle's equal one
(kept in the caller's EngineCache) serves again.
"""

from __future__ import annotations

from services.scheduler.domain.engine.model import Hold, HoldKind

HoldsByJob = dict[str, Hold]


class Holds:
    """Makes this cycle's Holds, handing out again those of `last` (the last cycle's `made`) that are
    equal."""

    __slots__ = ("_last", "made")

    def __init__(self, last: HoldsByJob) -> None:
        self._last = last
        self.made: HoldsByJob = {}

    def __call__(self, job_id: str, kind: HoldKind, reason: str) -> Hold:
        hold = self._last.get(job_id)
        if hold is None or hold.kind is not kind or hold.reason != reason:
            hold = Hold(job_id, reason, kind)
        self.made[job_id] = hold
        return hold

"""Hold decisions, handed out again from one cycle to the next.

A busy pool holds thousands of jobs every cycle, mostly for the reasons of the cycle before, and a
frozen dataclass costs several dict lookups to make. A Hold is a value: the last cycle's equal one
(per thread and fleet) serves again.
"""

from __future__ import annotations

from services.scheduler.domain.engine.fleet_state import State
from services.scheduler.domain.engine.model import Hold, HoldKind


class Holds:
    """Makes this cycle's Holds; `keep()` them in `state` (see fleet_state) for the next cycle once
    the cycle is through."""

    __slots__ = ("_last", "_made", "_state")

    def __init__(self, state: State) -> None:
        self._state = state
        self._last: dict[str, Hold] = state.get("holds") or {}
        self._made: dict[str, Hold] = {}

    def __call__(self, job_id: str, kind: HoldKind, reason: str) -> Hold:
        hold = self._last.get(job_id)
        if hold is None or hold.kind is not kind or hold.reason != reason:
            hold = Hold(job_id, reason, kind)
        self._made[job_id] = hold
        return hold

    def keep(self) -> None:
        self._state["holds"] = self._made

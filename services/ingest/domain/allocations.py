"""Which allocation held a GPU at a given instant, from the allocation intervals the scheduler announced."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

WHOLE = Decimal(1)


@dataclass(frozen=True)
class AllocationInterval:
    """One GPU bound to one allocation from bound_at until released_at (None while still bound)."""

    gpu_uuid: str
    allocation_id: str
    tenant_id: str
    project_id: str
    job_id: str
    gpu_model: str
    bound_at: datetime
    released_at: datetime | None = None
    gpu_share: Decimal = WHOLE  # of the GPU: less than 1 for a fractional allocation

    def covers(self, at: datetime) -> bool:
        return self.bound_at <= at and (self.released_at is None or at <= self.released_at)


def holder_at(intervals: Iterable[AllocationInterval], at: datetime) -> AllocationInterval | None:
    """The allocation that held the GPU at `at`, or None when the GPU was idle.

    A sample describes the window that ended at `at`. At a hand-over instant (one allocation released
    at t, the next bound at t) the window belongs to the allocation that ran before t, so intervals bound
    strictly before `at` win; among those, the latest bound wins (an older interval still open means its
    release has not reached us yet, and the GPU cannot be bound twice).
    """
    covering = [interval for interval in intervals if interval.covers(at)]
    if not covering:
        return None
    return max(covering, key=lambda i: (i.bound_at < at, i.bound_at, i.allocation_id))


def holders_at(
    intervals: Iterable[AllocationInterval], at: datetime
) -> list[tuple[AllocationInterval | None, Decimal]]:
    """Who held the GPU at `at`, each with its share of it; None is the idle rest (or the whole GPU idle).

    A GPU held whole (or idle) has one holder, as holder_at finds it. A GPU that fractional allocations
    share has each of them, latest bound first, while their shares fit in the GPU (by the same hand-over
    rule: those bound strictly before `at` first), and the rest idle. The shares add up to exactly 1.
    """
    covering = [interval for interval in intervals if interval.covers(at)]
    if not covering:
        return [(None, WHOLE)]
    if len(covering) == 1:  # the common case, first: one allocation at a time
        only = covering[0]
        return (
            [(only, WHOLE)]
            if only.gpu_share == WHOLE
            else [(only, only.gpu_share), (None, WHOLE - only.gpu_share)]
        )
    if any(interval.gpu_share == WHOLE for interval in covering):
        return [(holder_at(covering, at), WHOLE)]
    holders: list[tuple[AllocationInterval | None, Decimal]] = []
    left = WHOLE
    for interval in sorted(
        covering, key=lambda i: (i.bound_at < at, i.bound_at, i.allocation_id), reverse=True
    ):
        if interval.gpu_share <= left:
            holders.append((interval, interval.gpu_share))
            left -= interval.gpu_share
    if left:
        holders.append((None, left))
    return holders


def unsettled(
    holders: Iterable[tuple[AllocationInterval | None, Decimal]], running: Collection[str] | None
) -> list[str]:
    """The allocations among a sample's holders that it cannot be billed to yet (wait for their release).

    An interval whose release has not reached ingest may have ended before the sample: after a scheduler
    restart, releases wait for the lease to expire. The sample's agent lists the allocations whose
    workloads ran on the GPU when it was taken (`running`); a workload that still ran then ends, and
    so is released, at or after the sample's time, so a listed open interval is billed at once. An open
    interval the sample does not list holds the sample back until its release, after which the sample
    is attributed by its time against [bound, released]: past the release it is idle (or the next
    holder's). Samples from older agents (`running` None) are billed as before, to the open interval.
    """
    if running is None:
        return []
    return [
        holder.allocation_id
        for holder, _ in holders
        if holder is not None and holder.released_at is None and holder.allocation_id not in running
    ]

"""Reconciling what an agent says runs on its node with the allocations the scheduler holds there.

An agent restarts while its workloads run on: the scheduler must neither run a job a second time nor
bind GPUs that a workload still uses. So an allocation counts as gone only on proof: its agent started
it (the scheduler recorded the start, stamped with the agent's own clock, at or before the report) and
the agent no longer accounts for it at all (NodeRegistered.accounted_for: not running, not ended while
away, not held, not recently finished), which happens only when the agent lost its state. An allocation
whose start the scheduler has not heard of is left alone: its start command may still wait in JetStream
or in the outbox, and the agent will report it started or refused once it takes it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ReportedWorkload:
    allocation_id: str
    job_id: str


@dataclass(frozen=True)
class HeldAllocation:
    allocation_id: str
    # When its agent reported the workload started (the agent's clock); None before that.
    started_at: datetime | None


@dataclass(frozen=True)
class Reconciliation:
    # Running on the node, but the scheduler holds no such allocation: to be stopped.
    strays: tuple[ReportedWorkload, ...]
    # Held on the node, started by the agent, and no longer known to it: treated as exited.
    missing: tuple[str, ...]


def reconcile_node(
    running: Iterable[ReportedWorkload],
    accounted_for: Collection[str],
    held: Iterable[HeldAllocation],
    reported_at: datetime,
) -> Reconciliation:
    """Compare an agent's registration with the scheduler's live allocations on that node.

    `running` are the workloads the agent runs; `accounted_for` every allocation id it accounts for
    (those running included); `held` the allocations the scheduler holds there; `reported_at` when the
    agent took its report.
    """
    held_list = list(held)
    held_ids = {h.allocation_id for h in held_list}
    strays = tuple(r for r in running if r.allocation_id not in held_ids)
    missing = tuple(
        h.allocation_id
        for h in held_list
        if h.allocation_id not in accounted_for and h.started_at is not None and h.started_at <= reported_at
    )
    return Reconciliation(strays=strays, missing=missing)


def strays_among(running: Iterable[ReportedWorkload], live: Collection[str]) -> list[ReportedWorkload]:
    """The workloads a heartbeat lists whose allocation the scheduler no longer holds (released, or never
    known): each is to be stopped. A live allocation bound after the heartbeat was taken cannot be
    running in it, so the heartbeat's age does not matter."""
    return [r for r in running if r.allocation_id not in live]

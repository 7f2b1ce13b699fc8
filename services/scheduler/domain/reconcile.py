"""Reconciling what an agent says runs on its node with the allocations the scheduler holds there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ReportedWorkload:
    allocation_id: str
    job_id: str


@dataclass(frozen=True)
class HeldAllocation:
    allocation_id: str
    bound_at: datetime


@dataclass(frozen=True)
class Reconciliation:
    # Running on the node, but the scheduler holds no such allocation: to be stopped.
    strays: tuple[ReportedWorkload, ...]
    # Held on the node, but not running there: treated as exited.
    missing: tuple[str, ...]


def reconcile_node(
    reported: Iterable[ReportedWorkload], held: Iterable[HeldAllocation], reported_at: datetime
) -> Reconciliation:
    """Compare an agent's running list with the scheduler's live allocations on that node.

    An allocation bound after the report was taken may simply not have reached the agent yet, so only
    those bound before it count as missing.
    """
    held_list = list(held)
    held_ids = {h.allocation_id for h in held_list}
    reported_list = list(reported)
    reported_ids = {r.allocation_id for r in reported_list}
    strays = tuple(r for r in reported_list if r.allocation_id not in held_ids)
    missing = tuple(
        h.allocation_id
        for h in held_list
        if h.allocation_id not in reported_ids and h.bound_at <= reported_at
    )
    return Reconciliation(strays=strays, missing=missing)

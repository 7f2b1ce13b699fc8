"""Queueing policies: the order in which pending jobs are considered, and how jobs rank for preemption.

Each policy builds a JobOrder over the eligible pending jobs of one cycle. An order may change as the
cycle admits jobs (fair sharing re-ranks a queue once it received something), so the engine reports
every admission back to the order before asking for the next job.
"""

from __future__ import annotations

from services.scheduler.domain.engine.queueing.base import JobOrder, Rank, RankFn
from services.scheduler.domain.engine.queueing.build import build_order, priority_rank, rank_function

QUEUEING_POLICIES: dict[str, str] = {
    "fifo": "first come, first served: jobs in submission order",
    "priority": "priority classes, highest first; submission order within a class",
    "drf": "dominant resource fairness among tenants, then their queues (GPUs per flavor, CPU, memory), "
    "weighted, with decayed historical usage; priority order within a queue",
    "las": "least attained service (Tiresias): discretised queues by GPU-seconds received so far, "
    "fewest first; preempts jobs that received more",
}

__all__ = [
    "QUEUEING_POLICIES",
    "JobOrder",
    "Rank",
    "RankFn",
    "build_order",
    "priority_rank",
    "rank_function",
]

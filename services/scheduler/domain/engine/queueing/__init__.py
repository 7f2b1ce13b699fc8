"""Queueing policies: the order in which pending jobs are considered, and how jobs rank for preemption.

Each policy builds a JobOrder over the eligible pending jobs of one cycle. An order may change as the
cycle admits jobs (fair sharing re-ranks a queue once it received something), so the engine reports
every admission back to the order before asking for the next job.
"""

from __future__ import annotations

from services.scheduler.domain.engine.policy import QUEUEING_POLICIES
from services.scheduler.domain.engine.queueing.base import JobOrder, Rank, RankFn
from services.scheduler.domain.engine.queueing.build import build_order, priority_rank, rank_function

__all__ = [
    "QUEUEING_POLICIES",
    "JobOrder",
    "Rank",
    "RankFn",
    "build_order",
    "priority_rank",
    "rank_function",
]

"""The scheduler's settings (environment prefix AIFACTORY_, like every service).

The pool's scheduling policy is configured with the `scheduler_*` settings (env
AIFACTORY_SCHEDULER_QUEUEING, AIFACTORY_SCHEDULER_PLACEMENT, ...); each default is the policy engine's
documented default (domain/engine/policy.py, PoolPolicy).
"""

from __future__ import annotations

import os
import socket
from typing import Self

from pydantic import Field, model_validator

from services.scheduler.domain.engine import QUEUEING_POLICIES, PoolPolicy
from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES
from shared.settings import PlatformSettings

DEFAULT_POLICY = PoolPolicy()


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SchedulerSettings(PlatformSettings):
    # A node whose last heartbeat is older than this is declared lost.
    node_lost_after_s: float = Field(default=30.0, gt=0)
    # The leader lease's TTL; the leader refreshes it every third of it.
    lease_ttl_s: float = Field(default=10.0, gt=0)
    # A cycle runs after every relevant event, and at least this often.
    cycle_interval_s: float = Field(default=1.0, gt=0)
    # Cycles start at least this far apart: events arriving meanwhile fold into the next cycle, so a
    # steady stream of submissions costs a cycle per few jobs rather than per job (each cycle reads the
    # fleet's state), for at most this much added delay.
    cycle_min_spacing_s: float = Field(default=0.05, ge=0)
    # Names this instance in the lease, for operators.
    instance_id: str = Field(default_factory=default_instance_id)
    # The most pending jobs one cycle considers: the first in priority class then submission order
    # (submission order under "fifo"); the rest wait for a later cycle.
    cycle_max_pending: int = Field(default=5000, ge=1)

    # The pool's policy. Queueing: the order jobs are considered in and who may preempt whom; one of
    # fifo, priority, drf (fair sharing), las (least attained service).
    scheduler_queueing: str = DEFAULT_POLICY.queueing
    # Placement: where replicas go; one of first_fit, best_fit, fgd, fgd_exact.
    scheduler_placement: str = DEFAULT_POLICY.placement
    # Preempt lower-priority work for a blocked job.
    scheduler_preemption: bool = DEFAULT_POLICY.preemption
    # Seconds a preempted job gets to checkpoint and exit (the StopWorkload's grace).
    scheduler_preemption_grace_s: float = Field(default=DEFAULT_POLICY.preemption_grace_s, ge=0)
    # A job is never preempted before it has run this long.
    scheduler_min_runtime_s: float = Field(default=DEFAULT_POLICY.min_runtime_s, ge=0)
    # Reserve for the head job that cannot start, and backfill smaller jobs that end before it starts;
    # False: strict order behind a blocked job.
    scheduler_backfill: bool = DEFAULT_POLICY.backfill
    # Half-life of the decayed usage history that fair sharing (drf) weighs.
    scheduler_fair_share_half_life_s: float = Field(default=DEFAULT_POLICY.fair_share_half_life_s, gt=0)

    @model_validator(mode="after")
    def _known_policies(self) -> Self:
        if self.scheduler_queueing not in QUEUEING_POLICIES:
            raise ValueError(
                f"scheduler_queueing {self.scheduler_queueing!r} is not one of {sorted(QUEUEING_POLICIES)}"
            )
        if self.scheduler_placement not in PLACEMENT_POLICIES:
            raise ValueError(
                f"scheduler_placement {self.scheduler_placement!r} is not one of {sorted(PLACEMENT_POLICIES)}"
            )
        return self

    def pool_policy(self) -> PoolPolicy:
        return PoolPolicy(
            queueing=self.scheduler_queueing,
            placement=self.scheduler_placement,
            preemption=self.scheduler_preemption,
            preemption_grace_s=self.scheduler_preemption_grace_s,
            min_runtime_s=self.scheduler_min_runtime_s,
            backfill=self.scheduler_backfill,
            fair_share_half_life_s=self.scheduler_fair_share_half_life_s,
        )

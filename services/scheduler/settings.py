"""The scheduler's settings (environment prefix AIFACTORY_, like every service).

The default scheduling policy is configured with the `scheduler_*` settings (env
AIFACTORY_SCHEDULER_QUEUEING, AIFACTORY_SCHEDULER_PLACEMENT, ...); each default is the policy engine's
documented default (domain/engine/policy.py, PoolPolicy). It is the policy of every pool that
`scheduler_pools` does not name. `scheduler_pools` (env AIFACTORY_SCHEDULER_POOLS, a JSON object)
overrides it per pool: pool name -> the fields to change, named like the `scheduler_*` settings
without the prefix, e.g. {"research": {"queueing": "las", "placement": "best_fit"}}. Malformed pool
names, unknown keys and bad values are refused at start-up.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from services.scheduler.domain.engine import QUEUEING_POLICIES, PoolPolicy
from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES
from services.scheduler.domain.pools import PoolPolicies
from shared.events.jobs import POOL_NAME_PATTERN
from shared.settings import PlatformSettings, PriorityClassSettings

DEFAULT_POLICY = PoolPolicy()

PoolName = Annotated[str, StringConstraints(pattern=POOL_NAME_PATTERN)]


class PoolOverrides(BaseModel):
    """A pool's changes to the default policy: the `scheduler_*` settings' names without the prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queueing: str | None = None
    placement: str | None = None
    preemption: bool | None = None
    preemption_grace_s: float | None = Field(default=None, ge=0)
    min_runtime_s: float | None = Field(default=None, ge=0)
    backfill: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _fleet_wide(cls, values: Any) -> Any:
        if isinstance(values, dict) and "fair_share_half_life_s" in values:
            raise ValueError(
                "fair_share_half_life_s is fleet-wide (one usage history for every pool): "
                "set scheduler_fair_share_half_life_s"
            )
        return values

    @model_validator(mode="after")
    def _known_policies(self) -> Self:
        if self.queueing is not None:
            _check_known("queueing", self.queueing, QUEUEING_POLICIES)
        if self.placement is not None:
            _check_known("placement", self.placement, PLACEMENT_POLICIES)
        return self


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SchedulerSettings(PlatformSettings, PriorityClassSettings):
    # A node whose last heartbeat is older than this is declared lost.
    node_lost_after_s: float = Field(default=30.0, gt=0)
    # An allocation whose workload reported no start this long after its bind, while its node was
    # heard from, is released (billed nothing) and its job requeued (env AIFACTORY_START_TIMEOUT_S).
    start_timeout_s: float = Field(default=120.0, gt=0)
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
    # The most pending jobs one cycle considers per pool: the first in priority class then submission
    # order (submission order under "fifo"); the rest wait for a later cycle.
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

    # Per pool, what differs from the policy above (see the module's docstring); pools not named here
    # (and nodes without a `pool` label, jobs without a pool: pool "default") use the policy above.
    scheduler_pools: dict[PoolName, PoolOverrides] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_policies(self) -> Self:
        _check_known("scheduler_queueing", self.scheduler_queueing, QUEUEING_POLICIES)
        _check_known("scheduler_placement", self.scheduler_placement, PLACEMENT_POLICIES)
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

    def pool_policies(self) -> PoolPolicies:
        default = self.pool_policy()
        return PoolPolicies(
            default,
            {
                pool: replace(default, **overrides.model_dump(exclude_none=True))
                for pool, overrides in self.scheduler_pools.items()
            },
        )


def _check_known(setting: str, name: str, known: Mapping[str, object]) -> None:
    if name not in known:
        raise ValueError(f"{setting} {name!r} is not one of {sorted(known)}")

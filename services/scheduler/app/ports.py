"""The ports the scheduler's use cases need; PostgreSQL and NATS adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from services.scheduler.domain.engine.model import Stop
from services.scheduler.domain.lifecycle import AllocationView, JobOutcome, JobView, ReleaseCause
from services.scheduler.domain.model import Actions, LiveState, UsageHistory, UsedGpus
from services.scheduler.domain.pools import PoolPolicies
from services.scheduler.domain.reconcile import HeldAllocation, ReportedWorkload
from shared.events.agent import NodeRegistered
from shared.events.base import Event
from shared.events.gateway import JobSubmitted, QuotaSet


class StaleEpoch(Exception):
    """A newer leader has written: this instance must stop deciding."""


class ConcurrentChange(Exception):
    """A row changed between the snapshot and the apply (a cancel raced a placement): retry the cycle."""


@dataclass(frozen=True)
class JobStamp:
    """What a JobStateChanged needs besides the state: whose job it is and its new version."""

    tenant_id: str
    project_id: str
    version: int


@dataclass(frozen=True)
class CancelTarget:
    tenant_id: str
    state: str


class CycleWork(Protocol):
    """One fenced transaction of a scheduling cycle: everything written here commits together or not at all."""

    async def declare_lost_nodes(self, silent_since: datetime, now: datetime) -> list[str]:
        """Mark ready nodes last seen before `silent_since` lost (NodeStateChanged); their ids."""
        ...

    async def release_on_nodes(self, node_ids: Sequence[str], at: datetime) -> set[str]:
        """Release every live allocation on these nodes at `at` (node lost); the ids of their jobs."""
        ...

    async def release_exited(self, now: datetime) -> set[str]:
        """Release allocations whose exit was recorded, at the exit time kept between their bind and
        `now` (at their bind when they never ran: nothing is billed); the ids of their jobs."""
        ...

    async def time_out_starts(self, timeout: timedelta, now: datetime) -> int:
        """Record as exited (START_TIMEOUT) each live allocation with no start nor exit reported whose
        node was heard from `timeout` or more after the bind: its workload will not start. How many."""
        ...

    async def jobs_with_new_cancel_requests(self) -> set[str]: ...

    async def load_jobs(self, job_ids: set[str]) -> list[tuple[JobView, list[AllocationView]]]:
        """The jobs (locked for this transaction) with all their allocations."""
        ...

    async def save_outcomes(self, outcomes: Sequence[tuple[JobView, JobOutcome]], now: datetime) -> None:
        """Write job changes (JobStateChanged) and send StopWorkload (with the outcome's grace) for the
        allocations to stop."""
        ...

    async def stop_strays(self, now: datetime) -> int:
        """StopWorkload for workloads running without an allocation; how many."""
        ...

    async def needs_decisions(self) -> bool:
        """Whether a job is pending, or a job holding GPUs declares a maximum runtime."""
        ...

    async def load_state(self, now: float, max_pending: int, policies: PoolPolicies) -> LiveState:
        """The fleet, quotas, every job holding GPUs, and at most `max_pending` pending jobs per pool,
        in the pool's order: by submission under fifo, else by priority class then submission;
        GPU-seconds received per job when some pool orders by least attained service. `now` is epoch
        seconds."""
        ...

    async def load_used_gpus(self) -> UsedGpus:
        """The GPUs each project holds now (live allocations)."""
        ...

    async def load_budget_stops(self, now: datetime) -> tuple[Stop, ...]:
        """Stops for jobs holding GPUs (not told to stop yet) of projects and tenants whose budget is
        exhausted in now's billing period with the policy to stop running work."""
        ...

    async def load_usage_history(self) -> UsageHistory: ...

    async def save_usage_history(self, history: UsageHistory) -> None: ...

    async def apply(self, actions: Actions, now: datetime) -> None:
        """Bind placements (allocations, AllocationBound, StartWorkload, JobStateChanged) and write
        pending jobs' verdicts (a new reason, or failed).

        Raises ConcurrentChange when a job or GPU changed since the snapshot.
        """
        ...


class CycleStore(Protocol):
    def fenced(self, epoch: int) -> AbstractAsyncContextManager[CycleWork]:
        """A transaction that first fences `epoch`; raises StaleEpoch when a newer leader has written."""
        ...


class FactStore(Protocol):
    """What the event consumers record, inside the transaction that also marks the event processed."""

    async def emit(self, event: Event) -> None: ...

    async def wake_scheduler(self) -> None:
        """Wake the leader's cycle once this transaction commits (on any instance)."""
        ...

    async def add_job(self, event: JobSubmitted) -> bool:
        """Insert the job as pending, version 1; False when the job id is taken."""
        ...

    async def cancel_target(self, job_id: str) -> CancelTarget | None: ...

    async def cancel_if_pending(self, job_id: str) -> JobStamp | None:
        """Cancel a pending job that holds no allocation; its stamp, or None when it is not such a job."""
        ...

    async def request_cancel(self, job_id: str, at: datetime) -> None: ...

    async def quota_owner(self, project_id: str) -> str | None:
        """The tenant that owns the project's quotas, when any quota was set for it."""
        ...

    async def set_quota(self, event: QuotaSet) -> None: ...

    async def upsert_node(self, event: NodeRegistered) -> None:
        """Create or update the node and its GPUs, ready; GPUs it no longer reports are marked absent."""
        ...

    async def held_on_node(self, node_id: str) -> list[HeldAllocation]: ...

    async def add_strays(self, node_id: str, strays: Sequence[ReportedWorkload], at: datetime) -> None: ...

    async def mark_missing(self, allocation_ids: Sequence[str], at: datetime) -> None: ...

    async def touch_node(self, node_id: str, seen_at: datetime) -> bool:
        """Move the node's last_seen forward; False for an unknown node."""
        ...

    async def live_allocations(self, allocation_ids: Sequence[str]) -> set[str]:
        """Those of the allocations the scheduler still holds (not released)."""
        ...

    async def allocation_owner(self, allocation_id: str) -> tuple[str, str, bool] | None:
        """(node_id, job_id, live) of an allocation, or None when unknown."""
        ...

    async def mark_started(self, allocation_id: str, at: datetime) -> None: ...

    async def promote_to_running(self, job_id: str) -> JobStamp | None:
        """scheduled -> running once every replica of the current attempt started; the stamp if it moved."""
        ...

    async def record_exit(
        self, allocation_id: str, exit_code: int, cause: ReleaseCause, at: datetime
    ) -> bool:
        """Record the first exit of a live allocation; False when it was already released or exited."""
        ...


class Lease(Protocol):
    """The leader lease (NATS KV): create to acquire, compare-and-swap to refresh, delete to hand over."""

    async def acquire(self) -> int | None:
        """The lease's revision (it restarts at 1 if NATS loses its data), or None when another
        instance holds the lease."""
        ...

    async def refresh(self) -> bool: ...

    async def release(self) -> None: ...


class EpochFence(Protocol):
    """The highest epoch any leader has used, kept with the scheduler's state (PostgreSQL)."""

    async def claim(self, lease_revision: int) -> int:
        """A new epoch above every epoch used so far and not below `lease_revision`, recorded as used."""
        ...

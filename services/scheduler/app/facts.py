"""Use cases for the facts other services report: submissions, cancels, quotas, nodes, workloads.

They run on every instance (leader or not) and only record what happened, plus the few transitions
that need no lease: a pending job cancelled at once, scheduled -> running. Anything that releases
GPUs or commands an agent is left to the leader's cycle, which they wake.
"""

from __future__ import annotations

from datetime import datetime

from services.scheduler.app.ports import FactStore, JobStamp
from services.scheduler.domain.lifecycle import ReleaseCause
from services.scheduler.domain.reconcile import ReportedWorkload, reconcile_node, strays_among
from shared.events.agent import Heartbeat, NodeRegistered, WorkloadExited, WorkloadStarted
from shared.events.gateway import JobCancelRequested, JobSubmitted, QuotaSet
from shared.events.jobs import JobState
from shared.events.scheduler import JobStateChanged, NodeStateChanged
from shared.messaging.routes import PermanentError


class UnknownJob(Exception):
    """A transient error: the event refers to a job this scheduler has not recorded yet."""


async def submit_job(store: FactStore, event: JobSubmitted) -> None:
    # Version 1 is the submission itself, which the gateway already shows as pending: the scheduler's
    # first JobStateChanged is version 2 (admitted, or pending with the reason it waits).
    if not await store.add_job(event):
        raise PermanentError(f"job {event.job_id} was already submitted")
    await store.wake_scheduler()


async def cancel_job(store: FactStore, event: JobCancelRequested) -> None:
    target = await store.cancel_target(event.job_id)
    if target is None:
        # Messages of one fetched batch are handled concurrently, so the cancel may overtake its
        # submission: retried, and dead-lettered only if the job never shows up.
        raise UnknownJob(f"job {event.job_id} is not known (yet)")
    if target.tenant_id != event.tenant_id:
        raise PermanentError(f"tenant {event.tenant_id} has no job {event.job_id}")
    if JobState(target.state).is_terminal:
        return
    stamp = await store.cancel_if_pending(event.job_id)
    if stamp is not None:
        await store.emit(
            _state_changed(event.job_id, stamp, JobState.CANCELLED, "cancelled on request", event.occurred_at)
        )
        return
    await store.request_cancel(event.job_id, event.occurred_at)
    await store.wake_scheduler()


async def set_quota(store: FactStore, event: QuotaSet) -> None:
    owner = await store.quota_owner(event.project_id)
    if owner is not None and owner != event.tenant_id:
        raise PermanentError(f"project {event.project_id} does not belong to tenant {event.tenant_id}")
    await store.set_quota(event)
    await store.wake_scheduler()


async def register_node(store: FactStore, event: NodeRegistered) -> None:
    """An agent (re)started: record its node, the exits that happened while it was away, and reconcile.

    Only what the registration proves is acted on (domain/reconcile.py): workloads running without an
    allocation are stopped, and an allocation the agent started but no longer accounts for is gone.
    Anything else the agent accounts for, or has not started yet, it will report itself.
    """
    await store.upsert_node(event)
    for ended in event.exited:
        await _record_exit(
            store,
            event.node_id,
            ended.allocation_id,
            ended.job_id,
            ended.exit_code,
            ReleaseCause.STOPPED if ended.stopped else ReleaseCause.EXITED,
            event.occurred_at,
        )
    running = [ReportedWorkload(w.allocation_id, w.job_id) for w in event.running]
    held = await store.held_on_node(event.node_id)
    reconciliation = reconcile_node(running, event.accounted_for, held, event.occurred_at)
    await store.add_strays(event.node_id, reconciliation.strays, event.occurred_at)
    await store.mark_missing(reconciliation.missing, event.occurred_at)
    models = sorted({gpu.model for gpu in event.gpus})
    await store.emit(
        NodeStateChanged(
            occurred_at=event.occurred_at,
            node_id=event.node_id,
            state="ready",
            # A node with several GPU models lists them all, comma-separated.
            gpu_model=",".join(models),
            gpu_count=len(event.gpus),
        )
    )
    await store.wake_scheduler()


async def record_heartbeat(store: FactStore, event: Heartbeat) -> None:
    """Move the node's last_seen on, and have the leader stop each listed workload whose allocation the
    scheduler no longer holds (released while the agent was unheard, or never bound)."""
    # A heartbeat may overtake its node's registration (another consumer): the registration sets last_seen.
    await store.touch_node(event.node_id, event.occurred_at)
    if not event.running:
        return
    running = [ReportedWorkload(w.allocation_id, w.job_id) for w in event.running]
    live = await store.live_allocations([w.allocation_id for w in running])
    if strays := strays_among(running, live):
        await store.add_strays(event.node_id, strays, event.occurred_at)
        await store.wake_scheduler()


async def workload_started(store: FactStore, event: WorkloadStarted) -> None:
    live = await _owned_allocation(store, event.allocation_id, event.node_id, event.job_id)
    if not live:
        # Started after the scheduler let go of it (released, or never known): the leader stops it.
        await store.add_strays(
            event.node_id, [ReportedWorkload(event.allocation_id, event.job_id)], event.occurred_at
        )
        await store.wake_scheduler()
        return
    await store.mark_started(event.allocation_id, event.occurred_at)
    stamp = await store.promote_to_running(event.job_id)
    if stamp is not None:
        reason = "all replicas started"
        await store.emit(_state_changed(event.job_id, stamp, JobState.RUNNING, reason, event.occurred_at))


async def workload_exited(store: FactStore, event: WorkloadExited) -> None:
    if event.will_restart:
        return  # an inference replica its agent restarts: the allocation and the job carry on
    await _record_exit(
        store,
        event.node_id,
        event.allocation_id,
        event.job_id,
        event.exit_code,
        _exit_cause(event),
        event.occurred_at,
    )


def _exit_cause(event: WorkloadExited) -> ReleaseCause:
    if event.refused:  # never ran, for the platform's state: the job is requeued, not failed
        return ReleaseCause.REFUSED
    return ReleaseCause.STOPPED if event.stopped else ReleaseCause.EXITED


async def _record_exit(
    store: FactStore,
    node_id: str,
    allocation_id: str,
    job_id: str,
    exit_code: int,
    cause: ReleaseCause,
    at: datetime,
) -> None:
    live = await _owned_allocation(store, allocation_id, node_id, job_id)
    # An exit after the release (its node was declared lost, say), or a second report, changes nothing.
    if live and await store.record_exit(allocation_id, exit_code, cause, at):
        await store.wake_scheduler()


async def _owned_allocation(store: FactStore, allocation_id: str, node_id: str, job_id: str) -> bool:
    """Whether the allocation is live; a report that contradicts the scheduler's record is rejected."""
    owner = await store.allocation_owner(allocation_id)
    if owner is None:
        return False
    held_node, held_job, live = owner
    if (held_node, held_job) != (node_id, job_id):
        raise PermanentError(
            f"allocation {allocation_id} belongs to job {held_job} on node {held_node}, "
            f"not job {job_id} on node {node_id}"
        )
    return live


def _state_changed(
    job_id: str, stamp: JobStamp, state: JobState, reason: str, at: datetime
) -> JobStateChanged:
    return JobStateChanged(
        occurred_at=at,
        tenant_id=stamp.tenant_id,
        project_id=stamp.project_id,
        job_id=job_id,
        state=state,
        reason=reason,
        version=stamp.version,
    )

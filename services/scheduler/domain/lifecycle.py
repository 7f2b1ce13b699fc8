"""What a job becomes once some of its allocations were released or a cancel was asked: pure rules.

States: pending -> admitted -> scheduled -> running -> succeeded | failed | cancelled.
- succeeded: every replica of the current attempt exited with code 0 on its own.
- failed: a replica exited non-zero on its own, or a node was lost (or a replica vanished) under a job
  whose restart policy is `fail`.
- requeued (back to pending): a node was lost or a replica vanished, restart policy `requeue`.
- cancelled: on request.
A job that is failing or being cancelled keeps its state, with a reason saying so, until every one of
its allocations is released (the agents confirm the stops): a terminal job never holds a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.events.jobs import JobState, RestartPolicy

# States in which a job holds the allocations of its current attempt.
PLACED_STATES = frozenset({JobState.ADMITTED, JobState.SCHEDULED, JobState.RUNNING})


class ReleaseCause(StrEnum):
    EXITED = "exited"  # the workload ended on its own, with an exit code
    STOPPED = "stopped"  # it ended after a stop command
    MISSING = "missing"  # its agent re-registered without it
    NODE_LOST = "node_lost"  # its node stopped sending heartbeats


@dataclass(frozen=True)
class AllocationView:
    allocation_id: str
    node_id: str
    replica: int
    attempt: int
    released: bool
    stop_requested: bool
    cause: ReleaseCause | None = None
    exit_code: int | None = None

    @property
    def clean_exit(self) -> bool:
        return self.released and self.cause is ReleaseCause.EXITED and self.exit_code == 0

    @property
    def disrupted(self) -> bool:
        """Released for a reason nobody asked for, other than a clean exit."""
        return self.released and not self.stop_requested and not self.clean_exit


@dataclass(frozen=True)
class JobView:
    job_id: str
    restart_policy: RestartPolicy
    replicas: int
    state: JobState
    reason: str
    attempt: int
    cancel_requested: bool = False
    # Set while the job fails or is cancelled and waits for its replicas to stop.
    ending_state: JobState | None = None
    ending_reason: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    """The job after settlement, and the live allocations to stop now."""

    state: JobState
    reason: str
    ending_state: JobState | None
    ending_reason: str | None
    stop: tuple[AllocationView, ...] = ()
    stop_reason: str = ""

    def changes(self, job: JobView) -> bool:
        return (self.state, self.reason, self.ending_state, self.ending_reason) != (
            job.state,
            job.reason,
            job.ending_state,
            job.ending_reason,
        ) or bool(self.stop)


def settle(job: JobView, allocations: Sequence[AllocationView]) -> JobOutcome:
    """Apply the lifecycle rules to a job and all its allocations (every attempt)."""
    outcome = JobOutcome(job.state, job.reason, job.ending_state, job.ending_reason)
    if job.state.is_terminal:
        return outcome
    live = [a for a in allocations if not a.released]
    if outcome.ending_state is None and job.state in PLACED_STATES:
        outcome = _judge_current_attempt(job, allocations, outcome)
    if job.cancel_requested and outcome.ending_state is None and not outcome.state.is_terminal:
        outcome = replace(outcome, ending_state=JobState.CANCELLED, ending_reason="cancelled on request")
    requeued = outcome.state is JobState.PENDING and job.state is not JobState.PENDING
    if outcome.ending_state is None and not requeued:
        return outcome
    to_stop = tuple(a for a in live if not a.stop_requested)
    stop_reason = outcome.ending_reason or outcome.reason
    ending = outcome.ending_state
    if ending is not None:
        if live:
            verb = "cancelling" if ending is JobState.CANCELLED else "failing"
            reason = f"{verb}: {outcome.ending_reason}; waiting for its replicas to stop"
            outcome = replace(outcome, reason=reason)
        else:
            outcome = replace(outcome, state=ending, reason=outcome.ending_reason or "")
    return replace(outcome, stop=to_stop, stop_reason=stop_reason)


def _judge_current_attempt(
    job: JobView, allocations: Sequence[AllocationView], outcome: JobOutcome
) -> JobOutcome:
    current = sorted((a for a in allocations if a.attempt == job.attempt), key=lambda a: a.replica)
    disruption = next((a for a in current if a.disrupted), None)
    if disruption is not None:
        what = describe_disruption(disruption)
        if disruption.cause is ReleaseCause.EXITED or job.restart_policy is RestartPolicy.FAIL:
            return replace(outcome, ending_state=JobState.FAILED, ending_reason=what)
        return replace(outcome, state=JobState.PENDING, reason=f"{what}; requeued")
    if len(current) == job.replicas and all(a.clean_exit for a in current):
        noun = "replica" if job.replicas == 1 else f"all {job.replicas} replicas"
        return replace(outcome, state=JobState.SUCCEEDED, reason=f"{noun} exited with code 0")
    return outcome


def describe_disruption(allocation: AllocationView) -> str:
    if allocation.cause is ReleaseCause.NODE_LOST:
        return f"node {allocation.node_id} lost"
    if allocation.cause is ReleaseCause.MISSING:
        return f"replica {allocation.replica} was gone when node {allocation.node_id} re-registered"
    if allocation.cause is ReleaseCause.STOPPED:
        return f"replica {allocation.replica} was stopped on node {allocation.node_id} without a request"
    return f"replica {allocation.replica} exited with code {allocation.exit_code}"

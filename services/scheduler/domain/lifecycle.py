"""What a job becomes once some of its allocations were released or a cancel was asked: pure rules.

States: pending -> admitted -> scheduled -> running -> succeeded | failed | cancelled.
- succeeded: every replica of the current attempt exited with code 0 on its own.
- failed: a replica exited non-zero on its own, or a node was lost (or a replica vanished) under a job
  whose restart policy is `fail`, or the policy engine stopped it (maximum runtime).
- requeued (back to pending): a node was lost or a replica vanished, restart policy `requeue`; or a
  replica never ran (its node refused the start, or reported none in time), whatever the policy, unless
  that happened MAX_REFUSED_STARTS attempts in a row (failed).
- preempted: the policy engine made room for another job; once its replicas stopped, it is pending
  again.
- cancelled: on request.
A job that is failing or being cancelled keeps its state, with a reason saying so, until every one of
its allocations is released (the agents confirm the stops): a terminal job never holds a GPU. A
preempted job likewise goes back to its queue only when every replica stopped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.events.jobs import JobState, RestartPolicy

# States in which a job holds the allocations of its current attempt.
PLACED_STATES = frozenset({JobState.ADMITTED, JobState.SCHEDULED, JobState.RUNNING})
# States whose current attempt may still end on its own (a preempted job may finish in its grace).
JUDGED_STATES = PLACED_STATES | {JobState.PREEMPTED}


class ReleaseCause(StrEnum):
    EXITED = "exited"  # the workload ended on its own, with an exit code
    STOPPED = "stopped"  # it ended after a stop command
    MISSING = "missing"  # its agent re-registered without it
    NODE_LOST = "node_lost"  # its node stopped sending heartbeats
    REFUSED = "refused"  # its node refused the start (the platform's state, not the job's): it never ran
    START_TIMEOUT = "start_timeout"  # no start was reported within the start timeout

    @property
    def never_ran(self) -> bool:
        """Released before its workload ran, through no fault of the job: requeued, billed nothing."""
        return self in (ReleaseCause.REFUSED, ReleaseCause.START_TIMEOUT)


# A job whose starts are refused (or time out) this many attempts in a row fails: whatever keeps
# refusing it will not go away by itself, and requeueing it for ever would hide that.
MAX_REFUSED_STARTS = 5


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
    # Why it was preempted, while it is (state preempted).
    preemption: str | None = None


@dataclass(frozen=True)
class JobOutcome:
    """The job after settlement, and the live allocations to stop now."""

    state: JobState
    reason: str
    ending_state: JobState | None
    ending_reason: str | None
    stop: tuple[AllocationView, ...] = ()
    stop_reason: str = ""
    stop_grace_s: float | None = None  # None: the stop command's default grace
    preemption: str | None = None

    def changes(self, job: JobView) -> bool:
        return (self.state, self.reason, self.ending_state, self.ending_reason, self.preemption) != (
            job.state,
            job.reason,
            job.ending_state,
            job.ending_reason,
            job.preemption,
        ) or bool(self.stop)


def settle(job: JobView, allocations: Sequence[AllocationView]) -> JobOutcome:
    """Apply the lifecycle rules to a job and all its allocations (every attempt)."""
    outcome = JobOutcome(
        job.state, job.reason, job.ending_state, job.ending_reason, preemption=job.preemption
    )
    if job.state.is_terminal:
        return outcome
    live = [a for a in allocations if not a.released]
    if outcome.ending_state is None and job.state in JUDGED_STATES:
        outcome = _judge_current_attempt(job, allocations, outcome)
    if job.cancel_requested and outcome.ending_state is None and not outcome.state.is_terminal:
        outcome = replace(outcome, ending_state=JobState.CANCELLED, ending_reason="cancelled on request")
    if outcome.state is JobState.PREEMPTED and outcome.ending_state is None and not live:
        # Every replica stopped: back to its queue, saying for whom it made room.
        return replace(outcome, state=JobState.PENDING, reason=_requeued(job.preemption), preemption=None)
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


def preempt(
    job: JobView, allocations: Sequence[AllocationView], reason: str, grace_s: float
) -> JobOutcome | None:
    """Stop a placed job's replicas (after `grace_s`) and requeue it once they stopped; None when the
    job no longer runs or is ending anyway."""
    if job.state not in PLACED_STATES or job.ending_state is not None or job.cancel_requested:
        return None
    live = tuple(a for a in allocations if not a.released)
    if not live:
        return JobOutcome(JobState.PENDING, _requeued(reason), None, None)
    return JobOutcome(
        JobState.PREEMPTED,
        f"{reason}; waiting for its replicas to stop",
        None,
        None,
        stop=tuple(a for a in live if not a.stop_requested),
        stop_reason=reason,
        stop_grace_s=grace_s,
        preemption=reason,
    )


def stop_and_fail(job: JobView, allocations: Sequence[AllocationView], reason: str) -> JobOutcome | None:
    """Stop a job's replicas and fail it once they stopped (maximum runtime); None when it is ending
    anyway."""
    if job.state.is_terminal or job.ending_state is not None:
        return None
    return settle(replace(job, ending_state=JobState.FAILED, ending_reason=reason), allocations)


def _requeued(preemption: str | None) -> str:
    return f"{preemption or 'preempted'}; requeued"


def _judge_current_attempt(
    job: JobView, allocations: Sequence[AllocationView], outcome: JobOutcome
) -> JobOutcome:
    current = sorted((a for a in allocations if a.attempt == job.attempt), key=lambda a: a.replica)
    disruption = next((a for a in current if a.disrupted), None)
    if disruption is not None:
        what = describe_disruption(disruption)
        if disruption.cause is not None and disruption.cause.never_ran:
            # It never ran, so even a job that must not restart goes back to its queue.
            if (refusals := _refused_in_a_row(job.attempt, allocations)) >= MAX_REFUSED_STARTS:
                reason = f"{what}; its starts were refused {refusals} times in a row"
                return replace(outcome, ending_state=JobState.FAILED, ending_reason=reason)
            return replace(outcome, state=JobState.PENDING, reason=f"{what}; requeued")
        if disruption.cause is ReleaseCause.EXITED or job.restart_policy is RestartPolicy.FAIL:
            return replace(outcome, ending_state=JobState.FAILED, ending_reason=what)
        return replace(outcome, state=JobState.PENDING, reason=f"{what}; requeued")
    if len(current) == job.replicas and all(a.clean_exit for a in current):
        noun = "replica" if job.replicas == 1 else f"all {job.replicas} replicas"
        return replace(outcome, state=JobState.SUCCEEDED, reason=f"{noun} exited with code 0")
    return outcome


def _refused_in_a_row(attempt: int, allocations: Sequence[AllocationView]) -> int:
    """How many attempts up to `attempt`, counting back, had a start that never ran."""
    refused = {a.attempt for a in allocations if a.released and a.cause is not None and a.cause.never_ran}
    count = 0
    while attempt - count in refused:
        count += 1
    return count


def describe_disruption(allocation: AllocationView) -> str:
    if allocation.cause is ReleaseCause.REFUSED:
        return f"replica {allocation.replica} was refused by node {allocation.node_id} (it never ran)"
    if allocation.cause is ReleaseCause.START_TIMEOUT:
        return (
            f"replica {allocation.replica} reported no start on node {allocation.node_id}"
            " within the start timeout"
        )
    if allocation.cause is ReleaseCause.NODE_LOST:
        return f"node {allocation.node_id} lost"
    if allocation.cause is ReleaseCause.MISSING:
        return f"replica {allocation.replica} was gone when node {allocation.node_id} re-registered"
    if allocation.cause is ReleaseCause.STOPPED:
        return f"replica {allocation.replica} was stopped on node {allocation.node_id} without a request"
    return f"replica {allocation.replica} exited with code {allocation.exit_code}"

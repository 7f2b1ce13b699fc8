"""Job lifecycle rules: success, failure, requeue after node loss, cancel, and no terminal job holding GPUs."""

from __future__ import annotations

from dataclasses import replace

from services.scheduler.domain.lifecycle import (
    AllocationView,
    JobView,
    ReleaseCause,
    preempt,
    settle,
    stop_and_fail,
)
from shared.events.jobs import JobState, RestartPolicy


def running_job(
    replicas: int = 2, policy: RestartPolicy = RestartPolicy.REQUEUE, **changes: object
) -> JobView:
    job = JobView(
        job_id="j1",
        restart_policy=policy,
        replicas=replicas,
        state=JobState.RUNNING,
        reason="all replicas started",
        attempt=1,
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def alloc(replica: int, *, attempt: int = 1, node: str = "n1", **changes: object) -> AllocationView:
    view = AllocationView(
        allocation_id=f"a{attempt}-{replica}",
        node_id=node,
        replica=replica,
        attempt=attempt,
        released=False,
        stop_requested=False,
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def exited(replica: int, code: int, *, stop_requested: bool = False) -> AllocationView:
    return alloc(
        replica, released=True, cause=ReleaseCause.EXITED, exit_code=code, stop_requested=stop_requested
    )


def test_a_training_job_succeeds_when_every_replica_exited_zero() -> None:
    outcome = settle(running_job(), [exited(0, 0), exited(1, 0)])

    assert (outcome.state, outcome.reason) == (JobState.SUCCEEDED, "all 2 replicas exited with code 0")
    assert outcome.stop == ()


def test_one_replica_done_leaves_the_job_running() -> None:
    job = running_job()

    outcome = settle(job, [exited(0, 0), alloc(1)])

    assert not outcome.changes(job)


def test_a_non_zero_exit_fails_the_job_after_stopping_the_other_replicas() -> None:
    others = alloc(1, node="n2")

    failing = settle(running_job(), [exited(0, 3), others])

    assert failing.state is JobState.RUNNING
    assert failing.ending_state is JobState.FAILED
    assert failing.reason == "failing: replica 0 exited with code 3; waiting for its replicas to stop"
    assert [a.allocation_id for a in failing.stop] == [others.allocation_id]
    assert failing.stop_reason == "replica 0 exited with code 3"

    # The stop is confirmed: the job is failed and holds nothing.
    job = running_job(
        ending_state=JobState.FAILED, ending_reason="replica 0 exited with code 3", reason=failing.reason
    )
    stopped = replace(others, released=True, stop_requested=True, cause=ReleaseCause.STOPPED, exit_code=143)
    failed = settle(job, [exited(0, 3), stopped])

    assert (failed.state, failed.reason) == (JobState.FAILED, "replica 0 exited with code 3")
    assert failed.stop == ()


def test_node_loss_requeues_the_job_and_stops_its_replicas_elsewhere() -> None:
    on_other_node = alloc(1, node="n2")

    outcome = settle(running_job(), [alloc(0, released=True, cause=ReleaseCause.NODE_LOST), on_other_node])

    assert (outcome.state, outcome.reason) == (JobState.PENDING, "node n1 lost; requeued")
    assert outcome.ending_state is None
    assert [a.allocation_id for a in outcome.stop] == [on_other_node.allocation_id]


def test_node_loss_fails_a_job_whose_restart_policy_is_fail() -> None:
    outcome = settle(
        running_job(replicas=1, policy=RestartPolicy.FAIL),
        [alloc(0, released=True, cause=ReleaseCause.NODE_LOST)],
    )

    assert (outcome.state, outcome.reason) == (JobState.FAILED, "node n1 lost")


def test_a_replica_gone_after_its_agent_restarted_is_a_disruption() -> None:
    outcome = settle(running_job(replicas=1), [alloc(0, released=True, cause=ReleaseCause.MISSING)])

    assert outcome.state is JobState.PENDING
    assert outcome.reason == "replica 0 was gone when node n1 re-registered; requeued"


def test_stops_of_an_earlier_attempt_do_not_disturb_the_requeued_job() -> None:
    # Requeued and placed again (attempt 2); attempt 1's stopped replica is confirmed now.
    job = running_job(replicas=1, attempt=2)
    old = alloc(0, attempt=1, released=True, stop_requested=True, cause=ReleaseCause.STOPPED, exit_code=143)

    outcome = settle(job, [old, alloc(0, attempt=2)])

    assert not outcome.changes(job)


def test_cancel_stops_every_live_replica_and_ends_when_all_are_released() -> None:
    job = running_job(cancel_requested=True)
    replicas = [alloc(0), alloc(1, node="n2")]

    cancelling = settle(job, replicas)

    assert cancelling.state is JobState.RUNNING
    assert cancelling.ending_state is JobState.CANCELLED
    assert len(cancelling.stop) == 2
    assert cancelling.reason == "cancelling: cancelled on request; waiting for its replicas to stop"

    job = replace(
        job, ending_state=JobState.CANCELLED, ending_reason="cancelled on request", reason=cancelling.reason
    )
    one_left = [
        replace(replicas[0], stop_requested=True, released=True, cause=ReleaseCause.STOPPED),
        replace(replicas[1], stop_requested=True),
    ]
    assert not settle(job, one_left).changes(job)

    all_released = [replace(a, released=True, cause=ReleaseCause.STOPPED) for a in one_left]
    cancelled = settle(job, all_released)
    assert (cancelled.state, cancelled.reason) == (JobState.CANCELLED, "cancelled on request")


def test_a_pending_job_with_nothing_bound_is_cancelled_at_once() -> None:
    job = running_job(state=JobState.PENDING, reason="queued", cancel_requested=True)

    outcome = settle(job, [])

    assert (outcome.state, outcome.reason) == (JobState.CANCELLED, "cancelled on request")


def test_a_terminal_job_is_left_alone() -> None:
    job = running_job(state=JobState.SUCCEEDED, reason="done", cancel_requested=True)

    assert not settle(job, [exited(0, 0), exited(1, 0)]).changes(job)


# Stops the policy engine decides: preemption and maximum runtime.


def test_a_preempted_job_stops_its_replicas_with_the_grace_and_says_for_whom() -> None:
    replicas = [alloc(0), alloc(1, node="n2")]

    outcome = preempt(running_job(), replicas, "preempted for job hi", grace_s=20.0)

    assert outcome is not None
    assert (outcome.state, outcome.reason) == (
        JobState.PREEMPTED,
        "preempted for job hi; waiting for its replicas to stop",
    )
    assert [a.allocation_id for a in outcome.stop] == ["a1-0", "a1-1"]
    assert (outcome.stop_reason, outcome.stop_grace_s, outcome.preemption) == (
        "preempted for job hi",
        20.0,
        "preempted for job hi",
    )


def test_a_preempted_job_is_pending_again_once_every_replica_stopped() -> None:
    job = running_job(state=JobState.PREEMPTED, reason="...", preemption="preempted for job hi")
    stopping = [alloc(0, stop_requested=True), alloc(1, stop_requested=True)]
    stopped = [replace(a, released=True, cause=ReleaseCause.STOPPED, exit_code=143) for a in stopping]

    assert not settle(job, [stopped[0], stopping[1]]).changes(job)
    requeued = settle(job, stopped)

    assert (requeued.state, requeued.reason) == (JobState.PENDING, "preempted for job hi; requeued")
    assert requeued.preemption is None and requeued.stop == ()


def test_a_preempted_job_that_finishes_in_its_grace_succeeds() -> None:
    job = running_job(state=JobState.PREEMPTED, preemption="preempted for job hi")

    outcome = settle(job, [exited(0, 0, stop_requested=True), exited(1, 0, stop_requested=True)])

    assert outcome.state is JobState.SUCCEEDED


def test_a_preempted_job_cancelled_in_its_grace_ends_cancelled() -> None:
    job = running_job(state=JobState.PREEMPTED, preemption="preempted for job hi", cancel_requested=True)
    stopped = [alloc(r, released=True, stop_requested=True, cause=ReleaseCause.STOPPED) for r in (0, 1)]

    assert settle(job, stopped).state is JobState.CANCELLED


def test_only_a_placed_job_that_is_not_ending_can_be_preempted() -> None:
    for job in (
        running_job(state=JobState.PENDING),
        running_job(cancel_requested=True),
        running_job(ending_state=JobState.FAILED, ending_reason="replica 0 exited with code 3"),
    ):
        assert preempt(job, [alloc(0)], "preempted for job hi", grace_s=5.0) is None


def test_a_job_past_its_maximum_runtime_stops_then_fails() -> None:
    stopping = stop_and_fail(running_job(replicas=1), [alloc(0)], "maximum runtime of 60 s exceeded")

    assert stopping is not None
    assert (stopping.state, stopping.ending_state) == (JobState.RUNNING, JobState.FAILED)
    assert stopping.reason == "failing: maximum runtime of 60 s exceeded; waiting for its replicas to stop"
    assert (len(stopping.stop), stopping.stop_grace_s) == (1, None)

    job = running_job(
        replicas=1, ending_state=JobState.FAILED, ending_reason="maximum runtime of 60 s exceeded"
    )
    stopped = alloc(0, released=True, stop_requested=True, cause=ReleaseCause.STOPPED, exit_code=143)
    failed = settle(job, [stopped])
    assert (failed.state, failed.reason) == (JobState.FAILED, "maximum runtime of 60 s exceeded")
    assert stop_and_fail(job, [stopped], "maximum runtime of 60 s exceeded") is None

"""Starts that never ran (refused by the node, or never reported within the start timeout): the job goes
back to its queue whatever its restart policy, and fails only when its starts are refused again and again."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.scheduler.domain.lifecycle import MAX_REFUSED_STARTS, AllocationView, ReleaseCause, settle
from services.scheduler.settings import SchedulerSettings
from shared.events.jobs import JobState, RestartPolicy
from tests.unit.scheduler.test_lifecycle import alloc, running_job


def refused(replica: int, attempt: int = 1, cause: ReleaseCause = ReleaseCause.REFUSED) -> AllocationView:
    return alloc(replica, attempt=attempt, released=True, cause=cause, exit_code=125)


def test_a_refused_start_requeues_even_a_job_that_must_not_restart() -> None:
    other = alloc(1, node="n2")
    job = running_job(replicas=2, policy=RestartPolicy.FAIL, state=JobState.SCHEDULED)

    outcome = settle(job, [refused(0), other])

    assert (outcome.state, outcome.ending_state) == (JobState.PENDING, None)
    assert outcome.reason == "replica 0 was refused by node n1 (it never ran); requeued"
    assert [a.allocation_id for a in outcome.stop] == [other.allocation_id]


def test_a_start_never_reported_in_time_requeues_the_job_with_the_reason() -> None:
    outcome = settle(
        running_job(replicas=1, state=JobState.SCHEDULED),
        [refused(0, cause=ReleaseCause.START_TIMEOUT)],
    )

    assert outcome.state is JobState.PENDING
    assert outcome.reason == "replica 0 reported no start on node n1 within the start timeout; requeued"


def test_a_job_refused_too_many_times_in_a_row_fails_with_the_reason() -> None:
    last = MAX_REFUSED_STARTS
    earlier = [refused(0, attempt) for attempt in range(1, last)]
    one_short = running_job(replicas=1, state=JobState.SCHEDULED, attempt=last - 1)
    assert settle(one_short, earlier).state is JobState.PENDING

    job = running_job(replicas=1, state=JobState.SCHEDULED, attempt=last)
    outcome = settle(job, [*earlier, refused(0, last)])

    assert outcome.state is JobState.FAILED
    assert outcome.reason == (
        f"replica 0 was refused by node n1 (it never ran); its starts were refused {last} times in a row"
    )


def test_an_attempt_that_ran_breaks_the_run_of_refusals() -> None:
    last = MAX_REFUSED_STARTS
    history = [refused(0, attempt) for attempt in range(1, last)]
    history[1] = alloc(0, attempt=2, released=True, cause=ReleaseCause.NODE_LOST)
    job = running_job(replicas=1, state=JobState.SCHEDULED, attempt=last)

    assert settle(job, [*history, refused(0, last)]).state is JobState.PENDING


def test_the_start_timeout_is_two_minutes_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SchedulerSettings().start_timeout_s == 120.0
    monkeypatch.setenv("AIFACTORY_START_TIMEOUT_S", "30")
    assert SchedulerSettings().start_timeout_s == 30.0
    monkeypatch.setenv("AIFACTORY_START_TIMEOUT_S", "0")
    with pytest.raises(ValidationError, match="start_timeout_s"):
        SchedulerSettings()

"""Preemption makes progress: the preemptor is the job that gets the freed GPUs, in the next cycles too.

A victim that, queued again, would come before its preemptor (an older job under FIFO, a borrower
against the queue reclaiming its quota) would take its GPUs straight back, and the two would preempt
each other forever. Nor may anything else take what the preemptor counts on: a later job in the same
cycle, a waiting job ahead of it, or a reservation."""

from dataclasses import replace

import pytest

from services.scheduler.domain.engine.model import (
    HoldKind,
    JobRequest,
    Place,
    Preempt,
    RunningJob,
    Snapshot,
)
from tests.unit.scheduler.engine.builders import (
    NOW,
    hold_of,
    job,
    node,
    nodes,
    placed_ids,
    preempted_ids,
    queue,
    run_cycle,
    running,
    snapshot,
)

LONG_AGO = NOW - 3600


def play(snap: Snapshot, cycles: int, **policy: object) -> list[str]:
    """Run `cycles` cycles, preempted jobs leaving at once (no grace, no minimum runtime); the job ids
    preempted, in order."""
    pending = {r.job_id: r for r in snap.pending}
    run = {j.request.job_id: j for j in snap.running}
    preempted: list[str] = []
    for cycle in range(cycles):
        now = snap.now + cycle
        current = replace(snap, now=now, pending=tuple(pending.values()), running=tuple(run.values()))
        decisions = run_cycle(current, preemption_grace_s=0, min_runtime_s=0, **policy)
        for d in decisions.of_type(Preempt):
            preempted.append(d.job_id)
            pending[d.job_id] = run.pop(d.job_id).request
        for d in decisions.of_type(Place):
            request: JobRequest = pending.pop(d.job_id)
            run[d.job_id] = RunningJob(request, d.flavor, d.placements, now, borrowing=d.borrowing)
    return preempted


def test_fifo_never_preempts_an_older_job_that_would_take_its_gpus_back():
    older = running(job("older", gpus=8, submitted_at=0), "n0", started_at=LONG_AGO)
    snap = snapshot((node("n0"),), [job("high", gpus=8, priority=10, submitted_at=10)], [older])
    assert play(snap, 6, queueing="fifo") == []


def test_fifo_preempts_a_newer_job_and_the_preemptor_starts():
    newer = running(job("newer", gpus=8, submitted_at=20), "n0", started_at=LONG_AGO)
    snap = snapshot((node("n0"),), [job("high", gpus=8, priority=10, submitted_at=10)], [newer])
    assert play(snap, 6, queueing="fifo") == ["newer"]


@pytest.mark.parametrize("queueing", ["fifo", "priority", "las", "drf"])
def test_a_borrower_preempted_to_reclaim_quota_does_not_take_it_back(queueing):
    queues = (queue("lender", cohort="c", nominal=8), queue("borrower", cohort="c", nominal=0))
    borrowed = running(job("borrowed", gpus=8, project="borrower", submitted_at=0), "n0", started_at=LONG_AGO)
    borrowed = replace(borrowed, borrowing=True)
    snap = snapshot(
        (node("n0"),), [job("back", gpus=8, project="lender", submitted_at=10)], [borrowed], queues=queues
    )
    assert play(snap, 6, queueing=queueing) == ["borrowed"]


def test_a_later_job_does_not_take_the_free_gpus_a_preemptor_counts_on():
    low = running(job("low", gpus=4), "n0", started_at=LONG_AGO)  # GPUs 0-3; 4-7 are free
    pending = [job("high", gpus=8, priority=10, submitted_at=1), job("small", submitted_at=2)]
    decisions = run_cycle(snapshot((node("n0"),), pending, [low]))
    assert preempted_ids(decisions) == ["low"]
    assert placed_ids(decisions) == []
    assert hold_of(decisions, "small").kind is HoldKind.RESERVATION


def test_a_preemptor_waiting_on_departing_jobs_keeps_the_free_gpus():
    # Nothing ranks below "high" but the job already going: it waits for it, and without a
    # reservation to spare the free GPUs are still kept for it.
    going = running(job("going", gpus=4, priority=10), "n0", started_at=LONG_AGO)
    pending = [job("high", gpus=8, priority=10, submitted_at=1), job("small", submitted_at=2)]
    snap = snapshot((node("n0"),), pending, [going], terminating={"going"})
    decisions = run_cycle(snap, max_reservations=0)
    assert "release their GPUs" in hold_of(decisions, "high").reason
    assert placed_ids(decisions) == []


def test_fifo_does_not_preempt_for_gpus_an_older_waiting_job_would_take():
    pinned = running(job("pinned", gpus=4, preemptible=False), "n0", started_at=LONG_AGO)
    newer = running(job("newer", gpus=4, submitted_at=30), "n0", first_gpu=4, started_at=LONG_AGO)
    pending = [job("old", gpus=4, submitted_at=0), job("high", gpus=4, priority=10, submitted_at=10)]
    snap = snapshot((node("n0"),), pending, [pinned, newer])
    assert preempted_ids(run_cycle(snap, queueing="fifo")) == []


def test_jobs_on_gpus_reserved_for_an_earlier_job_are_not_victims():
    # First in line, "big" cannot preempt (same rank) and reserves n0 for when a and b end; "mid"
    # preempts c on n1, which lost more work, since what a or b would free is big's (big does not
    # fit on n1, where d stays).
    run = [
        running(job("a", gpus=4, max_runtime_s=3700, submitted_at=20), "n0", started_at=NOW - 3600),
        running(
            job("b", gpus=4, max_runtime_s=4600, submitted_at=20), "n0", first_gpu=4, started_at=NOW - 3600
        ),
        running(job("c", gpus=4, submitted_at=20), "n1", started_at=NOW - 7200),
        running(job("d", gpus=4, preemptible=False), "n1", first_gpu=4, started_at=NOW - 7200),
    ]
    pending = [job("big", gpus=8, submitted_at=0), job("mid", gpus=4, priority=5, submitted_at=10)]
    decisions = run_cycle(snapshot(nodes(2), pending, run), queueing="fifo")
    assert preempted_ids(decisions) == ["c"]

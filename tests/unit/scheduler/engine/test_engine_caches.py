"""What the engine keeps between cycles answers as a fresh look at the snapshot would.

The running-job index (kept by identity, or by a caller job by job), the per-request gate memo, the
Holds handed out again and the fast sorts: each against the plain computation."""

import random
from dataclasses import replace

from services.scheduler.domain.engine import EngineCache
from services.scheduler.domain.engine.model import Decisions, HoldKind, RunningJob, Stop
from services.scheduler.domain.engine.queueing.base import (
    _by_priority,
    _by_submission,
    fifo_key,
    priority_key,
)
from services.scheduler.domain.engine.running_index import RunningIndex
from tests.unit.scheduler.engine.builders import NOW, hold_of, job, nodes, queue, run_cycle, running, snapshot


def facts(index: RunningIndex, now: float) -> tuple:
    overdue = [j.request.job_id for j in index.overdue(now)]
    usage = {key: tuple(value) for key, value in index.usage.items()}
    nodes_of = {node: sorted(j.request.job_id for j in index.jobs_on(node)) for node in index.node_counts}
    return dict(index.job_counts), dict(index.node_counts), usage, overdue, nodes_of


def fleet_jobs(count: int, seed: int) -> list[RunningJob]:
    rng = random.Random(seed)
    return [
        running(
            job(
                f"j{i}",
                gpus=rng.choice([1, 2, 4]),
                project=f"p{i % 3}",
                max_runtime_s=rng.choice([None, 600.0]),
            ),
            f"n{i % 5}",
            started_at=NOW - rng.randrange(1200),
        )
        for i in range(count)
    ]


def fresh(jobs: list[RunningJob]) -> RunningIndex:
    index = RunningIndex()
    index.update(tuple(jobs))
    return index


def test_the_running_index_kept_by_identity_matches_a_fresh_one():
    jobs = fleet_jobs(40, seed=1)
    kept = fresh(jobs)
    # Some end, some start, one checkpoints (a new object, the same facts), one restarts elsewhere.
    later = jobs[5:]
    later[3] = replace(later[3], last_checkpoint_at=NOW)
    later[7] = replace(later[7], started_at=NOW, placements=running(later[7].request, "n9").placements)
    later += fleet_jobs(45, seed=2)[40:]  # j40 to j44 start
    kept.update(tuple(later))
    for now in (NOW - 600, NOW, NOW + 300, NOW + 900):
        assert facts(kept, now) == facts(fresh(later), now)


def test_a_caller_keeping_the_index_job_by_job_matches_a_fresh_one():
    jobs = fleet_jobs(20, seed=3)
    kept = fresh(jobs)
    checkpointed = replace(jobs[0], last_checkpoint_at=NOW)
    kept.replace(jobs[0], checkpointed)
    moved = replace(jobs[1], placements=running(jobs[1].request, "n7").placements)
    kept.replace(jobs[1], moved)
    kept.remove(jobs[2])
    now_running = [checkpointed, moved, *jobs[3:]]
    assert facts(kept, NOW + 900) == facts(fresh(now_running), NOW + 900)
    assert len(kept) == len(now_running)


def test_the_index_notices_a_node_coming_into_use():
    index = fresh(fleet_jobs(10, seed=4))
    known = {f"n{i}": object() for i in range(5)}
    assert index.nodes_within(known)
    index.add(running(job("far"), "elsewhere"))
    assert not index.nodes_within(known)


def test_overdue_jobs_are_stopped_soonest_first_whatever_came_before():
    run = [
        running(job("late", max_runtime_s=100), "n0", started_at=NOW - 150),
        running(job("early", max_runtime_s=100), "n1", started_at=NOW - 300),
        running(job("fine", max_runtime_s=1000), "n2", started_at=NOW - 300),
    ]
    snap = snapshot(nodes(3), [], run)
    stops = [d.job_id for d in run_cycle(snap).of_type(Stop)]
    assert stops == ["early", "late"]
    assert run_cycle(snapshot(nodes(3), [], run[::-1])).of_type(Stop) == run_cycle(snap).of_type(Stop)


def test_gates_follow_the_queues_of_each_snapshot():
    # The same request objects, first in a queue without quota, then in one whose quota is spent.
    pending = [job("a", gpus=2, submitted_at=1), job("b", gpus=2, submitted_at=2)]
    free = run_cycle(snapshot(nodes(1), pending))
    assert [d.job_id for d in free.items if d.job_id in ("a", "b")] == ["a", "b"]
    limited = snapshot(nodes(1), pending, queues=(queue("p1", nominal=0),))
    assert hold_of(run_cycle(limited), "a").kind is HoldKind.QUOTA
    assert run_cycle(limited) == with_a_fresh_cache(limited)


def test_a_hold_is_made_again_only_when_its_reason_changes():
    blocked = running(job("big-run", gpus=8), "n0", started_at=NOW - 100)
    snap = snapshot(nodes(1), [job("waits", gpus=8)], [blocked])
    first, second = hold_of(run_cycle(snap), "waits"), hold_of(run_cycle(snap), "waits")
    assert first is second and first.kind is HoldKind.CAPACITY  # handed out again, not made again
    tighter = snapshot(nodes(1), [job("waits", gpus=8)], [blocked], queues=(queue("p1", nominal=4),))
    assert hold_of(run_cycle(tighter), "waits").kind is HoldKind.QUOTA


def test_pools_decided_in_turn_with_one_cache_keep_apart():
    # Two fleets (as a scheduler deciding two pools in turn): each cycle's decisions are those of a
    # cache that never saw the other fleet.
    first = snapshot(nodes(2), [job("a", gpus=8), job("b", gpus=4, submitted_at=1)])
    second = snapshot(
        nodes(3, prefix="m"), [job("c", gpus=2)], [running(job("r", gpus=8, max_runtime_s=60), "m0")]
    )
    for snap in (first, second, first, second):
        assert run_cycle(snap) == with_a_fresh_cache(snap)


def test_the_fast_sorts_give_the_key_order():
    rng = random.Random(5)
    jobs = [
        job(
            f"j{rng.randrange(1000):03d}-{i}",
            priority=rng.choice([0, 1, 2]),
            submitted_at=float(rng.randrange(20)),
        )
        for i in range(300)
    ]
    assert _by_submission(jobs) == sorted(jobs, key=fifo_key)
    assert _by_priority(jobs) == sorted(jobs, key=priority_key)


def with_a_fresh_cache(snap) -> Decisions:
    return run_cycle(snap, cache=EngineCache())

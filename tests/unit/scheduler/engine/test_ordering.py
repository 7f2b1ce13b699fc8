"""Queueing order: FIFO, priority, dominant resource fairness with history and weights, LAS."""

from services.scheduler.domain.engine.model import HoldKind
from tests.unit.scheduler.engine.builders import hold_kind, job, node, placed_ids, queue, run_cycle, snapshot


def one_gpu_fleet(gpus: int = 1):
    return (node("n0", gpus),)


def test_fifo_starts_the_oldest_job_whatever_its_priority():
    snap = snapshot(one_gpu_fleet(), [job("new", submitted_at=2, priority=9), job("old", submitted_at=1)])
    decisions = run_cycle(snap, queueing="fifo", preemption=False)
    assert placed_ids(decisions) == ["old"]
    assert hold_kind(decisions, "new") is HoldKind.CAPACITY


def test_priority_starts_the_highest_class_first():
    snap = snapshot(one_gpu_fleet(), [job("old", submitted_at=1), job("urgent", submitted_at=2, priority=9)])
    assert placed_ids(run_cycle(snap, queueing="priority")) == ["urgent"]


def test_drf_a_team_that_used_much_lately_waits_behind_one_that_used_little():
    pending = [job(f"heavy{i}", project="heavy", tenant="th", submitted_at=i) for i in range(2)] + [
        job(f"light{i}", project="light", tenant="tl", submitted_at=10 + i) for i in range(2)
    ]
    # heavy used 4 GPUs for hours; light nothing.
    snap = snapshot(one_gpu_fleet(2), pending, usage_history={"heavy": 4 * 3 * 3600.0})
    assert placed_ids(run_cycle(snap, queueing="drf")) == ["light0", "light1"]


def test_drf_without_history_alternates_between_tenants():
    pending = [job(f"a{i}", project="a", tenant="ta", submitted_at=i) for i in range(3)] + [
        job(f"b{i}", project="b", tenant="tb", submitted_at=10 + i) for i in range(3)
    ]
    placed = placed_ids(run_cycle(snapshot(one_gpu_fleet(4), pending), queueing="drf"))
    assert sorted(placed) == ["a0", "a1", "b0", "b1"]


def test_drf_queue_weights_split_a_tenant_share():
    pending = [job(f"big{i}", project="big", submitted_at=i) for i in range(8)] + [
        job(f"small{i}", project="small", submitted_at=i) for i in range(8)
    ]
    queues = (queue("big", weight=3.0), queue("small", weight=1.0))
    placed = placed_ids(run_cycle(snapshot(one_gpu_fleet(8), pending, queues=queues), queueing="drf"))
    assert sum(p.startswith("big") for p in placed) == 6
    assert sum(p.startswith("small") for p in placed) == 2


def test_drf_tenant_weights_split_the_fleet():
    pending = [job(f"x{i}", project="px", tenant="tx", submitted_at=i) for i in range(8)] + [
        job(f"y{i}", project="py", tenant="ty", submitted_at=i) for i in range(8)
    ]
    decisions = run_cycle(
        snapshot(one_gpu_fleet(8), pending), queueing="drf", tenant_weights=(("tx", 1.0), ("ty", 3.0))
    )
    placed = placed_ids(decisions)
    assert sum(p.startswith("y") for p in placed) == 6


def test_drf_counts_what_a_queue_already_runs():
    from tests.unit.scheduler.engine.builders import running

    busy = running(job("busy-run", gpus=4, project="busy", tenant="tb"), "n0")
    pending = [
        job("busy-next", project="busy", tenant="tb", submitted_at=1),
        job("idle-next", project="idle", tenant="ti", submitted_at=2),
    ]
    decisions = run_cycle(snapshot(one_gpu_fleet(5), pending, [busy]), queueing="drf", preemption=False)
    assert placed_ids(decisions) == ["idle-next"]


def test_las_starts_the_job_with_least_attained_service_first():
    pending = [job("veteran", submitted_at=1), job("newcomer", submitted_at=5)]
    snap = snapshot(one_gpu_fleet(), pending, attained={"veteran": 5_000.0})
    assert placed_ids(run_cycle(snap, queueing="las")) == ["newcomer"]


def test_las_keeps_submission_order_within_one_queue():
    pending = [job("second", submitted_at=2), job("first", submitted_at=1)]
    # Both below the first threshold (3600 GPU-s): same queue, so FIFO, not exact attained service.
    snap = snapshot(one_gpu_fleet(), pending, attained={"first": 3_000.0, "second": 10.0})
    assert placed_ids(run_cycle(snap, queueing="las")) == ["first"]


def test_drf_weighs_the_dominant_resource_even_when_it_is_cpu():
    from tests.unit.scheduler.engine.builders import running

    fleet = (node("n0", 8, cpu_milli=64_000),)
    cpu_heavy = running(
        job("cpu-run", project="cpu", tenant="tc", cpu_milli_per_replica=48_000), "n0"
    )  # 75% CPU
    gpu_heavy = running(job("gpu-run", gpus=4, project="gpu", tenant="tg"), "n0", first_gpu=1)  # 50% GPUs
    pending = [
        job("cpu-next", project="cpu", tenant="tc", submitted_at=1),
        job("gpu-next", project="gpu", tenant="tg", submitted_at=2),
    ]
    decisions = run_cycle(
        snapshot(fleet, pending, [cpu_heavy, gpu_heavy]), queueing="drf", max_placements_per_cycle=1
    )
    assert placed_ids(decisions) == ["gpu-next"]


def test_las_thresholds_are_configurable():
    pending = [job("a", submitted_at=1), job("b", submitted_at=2)]
    snap = snapshot(one_gpu_fleet(), pending, attained={"a": 500.0, "b": 10.0})
    assert placed_ids(run_cycle(snap, queueing="las")) == ["a"]  # same queue under 3600 GPU-s
    assert placed_ids(run_cycle(snap, queueing="las", las_thresholds_gpu_s=(100.0,))) == ["b"]


def test_priority_still_comes_first_under_las():
    snap = snapshot(one_gpu_fleet(), [job("fresh"), job("urgent", priority=5)], attained={"urgent": 90_000.0})
    assert placed_ids(run_cycle(snap, queueing="las")) == ["urgent"]
    assert hold_kind(run_cycle(snap, queueing="las"), "fresh") is HoldKind.CAPACITY

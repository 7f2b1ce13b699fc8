"""Large jobs never starve: a multi-cycle replay where a stream of small jobs keeps the fleet busy."""

from services.scheduler.domain.engine.model import JobRequest, Place, Reserve, RunningJob
from tests.unit.scheduler.engine.builders import job, nodes, run_cycle, snapshot

STEP_S = 10.0
SMALL_RUNTIME_S = 100.0


def replay(steps: int, **policy: object) -> tuple[float | None, list[float]]:
    """Replay `steps` cycles; the big job's start time (None: never) and its reserved start times."""
    fleet = nodes(2)  # 16 GPUs
    pending: dict[str, JobRequest] = {
        "big": job("big", gpus=8, replicas=2, submitted_at=5.0, max_runtime_s=1000)
    }
    live: dict[str, tuple[RunningJob, float]] = {}
    for i in range(16):  # the fleet starts full, small jobs ending one after the other
        request = job(f"warm{i}", submitted_at=0.0, max_runtime_s=STEP_S * (i + 1))
        pending[request.job_id] = request
    reserved: list[float] = []
    for step in range(steps):
        now = step * STEP_S
        live = {k: v for k, v in live.items() if v[1] > now}  # jobs end at their declared maximum
        arrival = job(f"small{step}", submitted_at=now + 6.0, max_runtime_s=SMALL_RUNTIME_S)
        pending[arrival.job_id] = arrival
        snap = snapshot(fleet, list(pending.values()), [r for r, _ in live.values()], now=now)
        decisions = run_cycle(snap, queueing="fifo", preemption=False, **policy)
        for place in decisions.of_type(Place):
            request = pending.pop(place.job_id)
            live[place.job_id] = (
                RunningJob(request, place.flavor, place.placements, now),
                now + (request.max_runtime_s or 0),
            )
            if place.job_id == "big":
                return now, reserved
        reserved += [r.start_at for r in decisions.of_type(Reserve) if r.job_id == "big"]
    return None, reserved


def test_a_stream_of_small_jobs_starves_a_large_one_without_reservations():
    started, _ = replay(120, max_reservations=0)
    assert started is None


def test_with_a_reservation_the_large_job_starts_by_its_first_reserved_time():
    started, reserved = replay(120)
    assert started is not None and reserved
    assert started <= reserved[0]
    assert all(
        later <= earlier for earlier, later in zip(reserved, reserved[1:], strict=False)
    )  # never later

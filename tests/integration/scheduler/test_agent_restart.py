"""A node agent SIGKILLed while its workloads run and restarted a second later, against the real scheduler.

While it is away one workload exits 3, another exits 0, one runs on, and the scheduler binds a queued job
to the free GPU (its start command waits in JetStream). Each workload writes when it ran, as which
allocation and on which GPUs (CUDA_VISIBLE_DEVICES), so the checks use the workloads' own records:
no job runs twice, no GPU is held by two workloads at once, exit codes are kept, every allocation ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from shared.events.agent import Heartbeat, RunningWorkload
from shared.events.jobs import JobState
from shared.events.scheduler import (
    AllocationBound,
    AllocationReleased,
    JobStateChanged,
    NodeStateChanged,
    StopWorkload,
)
from tests.integration.agent.conftest import kill_leftover_workloads, spawn_agent_process
from tests.integration.scheduler.harness import Bus, Schedulers, eventually, latest, leader_epoch, now
from tests.support.workload_records import overlaps, runs

STARTUP_S = 60.0
# Writes a line when it starts and when it ends (SIGTERM included), waits for its gate file, exits.
WORKLOAD = """
import json, os, signal, sys, time
records, gate, code = sys.argv[1], sys.argv[2], int(sys.argv[3])
def note(what):
    line = json.dumps({"what": what, "at": time.time(), "job": os.environ["AIFACTORY_JOB_ID"],
        "allocation": os.environ["AIFACTORY_ALLOCATION_ID"], "gpus": os.environ["CUDA_VISIBLE_DEVICES"]})
    fd = os.open(records, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, (line + "\\n").encode())
    os.close(fd)
def stopped(*_):
    note("end")
    sys.exit(143)
signal.signal(signal.SIGTERM, stopped)
note("start")
while not os.path.exists(gate):
    time.sleep(0.02)
note("end")
sys.exit(code)
"""
TERMINAL = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}


class Workloads:
    def __init__(self, directory: Path) -> None:
        self.script = directory / "workload.py"
        self.script.write_text(WORKLOAD)
        self.records = directory / "records.jsonl"
        self.directory = directory

    def gate(self, name: str) -> Path:
        return self.directory / f"gate-{name}"

    def command(self, gate: str, code: int) -> list[str]:
        return [sys.executable, str(self.script), str(self.records), str(self.gate(gate)), str(code)]

    def started(self) -> set[str]:
        return {run.job for run in runs(self.records)} if self.records.exists() else set()

    def ended(self) -> set[str]:
        return {run.job for run in runs(self.records) if run.end != float("inf")}


async def test_an_agent_killed_and_restarted_runs_no_job_twice_and_shares_no_gpu(
    bus: Bus, schedulers: Schedulers, nats_url: str, tmp_path: Path
) -> None:
    await leader_epoch(await schedulers.start())
    node_id = f"n{uuid.uuid4().hex[:8]}"
    state_dir = tmp_path / node_id
    state_dir.mkdir()
    work = Workloads(tmp_path)
    agent = spawn_agent_process(node_id, state_dir, nats_url, gpus=4)
    try:
        await bus.wait_for(NodeStateChanged, timeout=STARTUP_S, node_id=node_id, state="ready")
        # Three of the four GPUs busy: "exit3" and "exit0" end while the agent is away, "long" runs on.
        await bus.submit("exit3", command=work.command("away", 3))
        await bus.submit("exit0", command=work.command("away", 0))
        await bus.submit("long", command=work.command("back", 0))
        await eventually(lambda: work.started() == {"exit3", "exit0", "long"}, STARTUP_S, "three workloads")
        for job in ("exit3", "exit0", "long"):
            await bus.wait_for(JobStateChanged, job_id=job, state=JobState.RUNNING)

        agent.send_signal(signal.SIGKILL)
        await asyncio.to_thread(agent.wait)
        work.gate("away").touch()
        await eventually(lambda: {"exit3", "exit0"} <= work.ended(), what="two exits while the agent is away")
        # Queued meanwhile: "queued" is bound to the free GPU (its start command waits for the agent),
        # "later" waits for GPUs the scheduler still thinks busy.
        await bus.submit("queued", command=work.command("back", 0))
        await bus.submit("later", command=work.command("back", 0))
        await bus.wait_for(AllocationBound, job_id="queued")
        await asyncio.sleep(1.0)
        agent = spawn_agent_process(node_id, state_dir, nats_url, gpus=4)

        await eventually(
            lambda: len(bus.events(NodeStateChanged, node_id=node_id, state="ready")) >= 2,
            STARTUP_S,
            "the node registered again",
        )
        await eventually(lambda: {"queued", "later"} <= work.started(), STARTUP_S, "the queued jobs started")
        await asyncio.sleep(2.0)  # room for a wrong second run to show
        work.gate("back").touch()
        jobs = ("exit3", "exit0", "long", "queued", "later")
        await eventually(
            lambda: all(
                bus.events(JobStateChanged, job_id=j) and latest(bus, j).state in TERMINAL for j in jobs
            ),
            STARTUP_S,
            "every job terminal",
        )

        all_runs = runs(work.records)
        assert sorted(run.job for run in all_runs) == sorted(jobs), "a job ran twice (or never)"
        assert list(overlaps(all_runs)) == []
        assert latest(bus, "exit3").state is JobState.FAILED
        assert "exited with code 3" in latest(bus, "exit3").reason
        assert latest(bus, "exit0").state is JobState.SUCCEEDED
        for job in ("long", "queued", "later"):
            assert latest(bus, job).state is JobState.SUCCEEDED, latest(bus, job)
        bound = {e.allocation_id for e in bus.events(AllocationBound)}
        await eventually(
            lambda: bound <= {e.allocation_id for e in bus.events(AllocationReleased)}, what="every release"
        )
        assert len(bus.events(AllocationBound)) == len(jobs)
    finally:
        agent.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(agent.wait, 10)
        agent.kill()
        kill_leftover_workloads(state_dir)


async def test_a_heartbeat_listing_a_workload_the_scheduler_does_not_hold_gets_it_stopped(
    bus: Bus, schedulers: Schedulers
) -> None:
    await leader_epoch(await schedulers.start())
    await bus.register("n1", gpus=2)
    await bus.wait_for(NodeStateChanged, node_id="n1")
    await bus.submit("j1")
    bound = await bus.wait_for(AllocationBound, job_id="j1")
    await bus.started(bound)
    ghost = RunningWorkload(job_id="old", allocation_id="alc-old-1-0", replica=0, pid=7)
    mine = RunningWorkload(job_id="j1", allocation_id=bound.allocation_id, replica=0, pid=8)

    await bus.publish(Heartbeat(occurred_at=now(), node_id="n1", running=[mine, ghost]))

    stop = await bus.wait_for(StopWorkload, allocation_id="alc-old-1-0")
    assert (stop.node_id, stop.reason) == ("n1", "the scheduler holds no allocation for this workload")
    await asyncio.sleep(0.5)
    assert not bus.events(StopWorkload, allocation_id=bound.allocation_id)

"""Registration, heartbeats, usage samples, health, and an agent killed and restarted."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Awaitable, Callable

from shared.events.agent import (
    HealthChanged,
    Heartbeat,
    NodeRegistered,
    UsageSampled,
    WorkloadExited,
    WorkloadStarted,
)
from tests.integration.agent.conftest import Node, python, spawn_agent_process, wait_until

# A deadline, not a wait: an agent process starts in about 2 s, far slower on a loaded CI machine.
STARTUP_S = 60.0


async def test_registration_lists_the_gpus_and_labels(node: Node) -> None:
    registered = node.tap.of(NodeRegistered)[0]

    assert registered.backend == "simulated"
    assert [gpu.uuid for gpu in registered.gpus] == node.gpu_uuids
    assert {gpu.model for gpu in registered.gpus} == {"A100"}
    assert registered.labels == {"rack": "r1"}
    assert registered.running == []


async def test_heartbeats_carry_the_running_workloads(node: Node) -> None:
    start = node.start_command(python("import time; time.sleep(60)"))
    await node.send(start)
    started = (await node.tap.wait_for(WorkloadStarted, allocation_id=start.allocation_id))[0]

    await wait_until(
        lambda: any(
            [(w.allocation_id, w.pid) for w in beat.running] == [(start.allocation_id, started.pid)]
            for beat in node.tap.of(Heartbeat)
        ),
        what="a heartbeat listing the workload",
    )
    await node.send(node.stop_command(start))
    await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id)


async def test_usage_samples_arrive_for_every_gpu_with_energy(node: Node) -> None:
    samples = await node.tap.wait_for(UsageSampled, count=6)

    assert {sample.gpu_uuid for sample in samples} == set(node.gpu_uuids)
    assert all(sample.energy_j >= 0 and sample.window_s > 0 for sample in samples)
    assert all(60.0 <= sample.power_w <= 400.0 for sample in samples)
    assert sum(sample.energy_j for sample in samples) > 0
    assert not any(sample.counter_reset for sample in samples)


async def test_a_counter_reset_is_reported_with_the_energy_since_the_reset(node: Node) -> None:
    assert node.backend is not None
    gpu = node.gpu_uuids[1]
    # A reset shows as the counter going backwards: let it count several windows first, so that what a
    # slow (loaded) next sample counts after the reset stays below the reading before it.
    await node.tap.wait_for(UsageSampled, count=4, gpu_uuid=gpu)

    node.backend.reset_energy_counter(gpu)

    reset = (await node.tap.wait_for(UsageSampled, gpu_uuid=gpu, counter_reset=True))[0]
    # Energy since the reset: at most one window at TDP, never the negative difference.
    assert 0 <= reset.energy_j <= 400.0 * reset.window_s


async def test_an_unhealthy_gpu_is_reported_and_its_recovery_too(node: Node) -> None:
    assert node.backend is not None
    gpu = node.gpu_uuids[0]

    node.backend.mark_unhealthy(gpu, "Xid 79: GPU has fallen off the bus")
    sick = (await node.tap.wait_for(HealthChanged, gpu_uuid=gpu, healthy=False))[0]
    assert "fallen off the bus" in sick.reason
    node.backend.mark_healthy(gpu)
    await node.tap.wait_for(HealthChanged, gpu_uuid=gpu, healthy=True)
    assert len(node.tap.of(HealthChanged, gpu_uuid=gpu)) == 2  # one event per change, not per sample


def spawn_agent(node: Node, nats_url: str) -> subprocess.Popen[bytes]:
    return spawn_agent_process(node.node_id, node.state_dir, nats_url, labels=("rack=r9",))


async def test_a_killed_agent_re_registers_with_what_still_runs_and_reports_what_ended(
    new_node: Callable[[], Awaitable[Node]], nats_url: str
) -> None:
    node = await new_node()
    node.state_dir.mkdir(parents=True)
    release = node.state_dir.parent / f"{node.node_id}-release"  # workloads never see the state dir
    agent = spawn_agent(node, nats_url)
    try:
        await node.tap.wait_for(NodeRegistered, timeout=STARTUP_S)
        survivor = node.start_command(python("import time; time.sleep(60)"))
        finisher = node.start_command(
            python(
                f"import os, sys, time\nwhile not os.path.exists({str(release)!r}): time.sleep(0.02)\nsys.exit(7)"
            ),
            gpu_uuids=node.gpu_uuids[1:],  # the survivor holds the first
        )
        await node.send(survivor)
        await node.send(finisher)
        survivor_pid = (await node.tap.wait_for(WorkloadStarted, allocation_id=survivor.allocation_id))[0].pid
        await node.tap.wait_for(WorkloadStarted, allocation_id=finisher.allocation_id)

        # 1. the agent dies hard; 2. one workload ends while it is away; 3. it comes back.
        agent.send_signal(signal.SIGKILL)
        agent.wait()
        release.touch()
        await wait_until(lambda: (node.state_dir / "run" / f"{finisher.allocation_id}.exit").exists())
        agent = spawn_agent(node, nats_url)

        registrations = await node.tap.wait_for(NodeRegistered, count=2, timeout=STARTUP_S)
        running = registrations[1].running
        assert [(w.allocation_id, w.pid) for w in running] == [(survivor.allocation_id, survivor_pid)]
        assert registrations[1].labels == {"rack": "r9"}
        # What ended while the agent was away is in the registration itself, with its exit code.
        assert [(w.allocation_id, w.exit_code, w.stopped) for w in registrations[1].exited] == [
            (finisher.allocation_id, 7, False)
        ]
        ended = (await node.tap.wait_for(WorkloadExited, allocation_id=finisher.allocation_id))[0]
        assert ended.exit_code == 7 and not ended.stopped
        assert len(node.tap.of(WorkloadStarted, allocation_id=finisher.allocation_id)) == 1  # not run again

        # The adopted workload still obeys the restarted agent.
        await node.send(node.stop_command(survivor))
        stopped = (await node.tap.wait_for(WorkloadExited, allocation_id=survivor.allocation_id))[0]
        assert stopped.stopped and stopped.exit_code == 128 + 15
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(agent.wait), 10)
        finally:
            agent.kill()

"""Workloads run as real processes by a real agent, commanded over the real nats-server."""

from __future__ import annotations

from shared.events.agent import WorkloadExited, WorkloadStarted
from shared.events.jobs import JobKind
from tests.integration.agent.conftest import Node, python, wait_until

SLEEPER = python("import time; time.sleep(60)")


async def test_a_workload_sees_only_its_gpus_and_reports_start_and_exit(node: Node) -> None:
    start = node.start_command(
        python("import os; print(os.environ['CUDA_VISIBLE_DEVICES']); print(os.environ['GREETING'])"),
        gpu_uuids=node.gpu_uuids,
    )
    await node.send(start)

    started = (await node.tap.wait_for(WorkloadStarted, allocation_id=start.allocation_id))[0]
    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert started.pid > 0 and started.epoch == node.epoch and started.tenant_id == "tenant-a"
    assert exited.exit_code == 0 and not exited.stopped and not exited.will_restart
    lines = node.log_of(start).splitlines()
    assert ",".join(node.gpu_uuids) in lines
    assert "hello" in lines


async def test_a_failing_workload_reports_its_exit_code(node: Node) -> None:
    start = node.start_command(python("import sys; print('boom', file=sys.stderr); sys.exit(3)"))
    await node.send(start)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert exited.exit_code == 3 and not exited.stopped
    assert "boom" in node.log_of(start)


async def test_a_program_that_does_not_exist_exits_127_with_the_reason_in_the_log(node: Node) -> None:
    start = node.start_command(["no-such-program-anywhere", "--flag"])
    await node.send(start)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert exited.exit_code == 127
    assert "cannot launch 'no-such-program-anywhere': command not found" in node.log_of(start)
    assert node.tap.of(WorkloadStarted, allocation_id=start.allocation_id) == []


async def test_stop_terminates_a_sleeping_workload_within_its_grace(node: Node) -> None:
    start = node.start_command(SLEEPER)
    await node.send(start)
    await node.tap.wait_for(WorkloadStarted, allocation_id=start.allocation_id)

    await node.send(node.stop_command(start, grace_s=30.0))

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    # Ended by SIGTERM (143), not by the SIGKILL that would follow the grace (137).
    assert exited.stopped and exited.exit_code == 128 + 15
    assert "stopping: cancelled" in node.log_of(start)


async def test_stop_kills_a_workload_that_ignores_sigterm_after_the_grace(node: Node) -> None:
    stubborn = python(
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
    )
    start = node.start_command(stubborn)
    await node.send(start)
    await node.tap.wait_for(WorkloadStarted, allocation_id=start.allocation_id)
    await wait_until(lambda: "ready" in node.log_of(start), what="the workload to ignore SIGTERM")

    await node.send(node.stop_command(start, grace_s=0.5))

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert exited.stopped and exited.exit_code == 128 + 9  # SIGKILL


async def test_an_inference_replica_is_restarted_until_stopped(node: Node) -> None:
    start = node.start_command(python("print('serving')"), kind=JobKind.INFERENCE)
    await node.send(start)

    restarts = await node.tap.wait_for(
        WorkloadExited, count=2, allocation_id=start.allocation_id, will_restart=True
    )
    started = await node.tap.wait_for(WorkloadStarted, count=3, allocation_id=start.allocation_id)
    assert all(exit.exit_code == 0 for exit in restarts)
    assert len({event.pid for event in started}) == len(started)  # a new process each time
    assert len({event.event_id for event in started}) == len(started)

    await node.send(node.stop_command(start))
    final = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id, stopped=True))[0]
    assert not final.will_restart
    count_after_stop = len(node.tap.of(WorkloadStarted, allocation_id=start.allocation_id))
    # A later command is handled only after the stop, so no restart can have slipped in between.
    marker = node.start_command(python("pass"))
    await node.send(marker)
    await node.tap.wait_for(WorkloadExited, allocation_id=marker.allocation_id)
    assert len(node.tap.of(WorkloadStarted, allocation_id=start.allocation_id)) == count_after_stop


async def test_a_redelivered_start_runs_the_workload_once(node: Node) -> None:
    start = node.start_command(SLEEPER)
    await node.send(start)
    # The same command again under another message id, as a scheduler retry would send it.
    await node.nc.jetstream().publish(
        start.subject(),
        start.model_dump_json().encode(),
        headers=start.headers() | {"Nats-Msg-Id": "retry-1"},
    )
    marker = node.start_command(python("pass"))
    await node.send(marker)

    await node.tap.wait_for(WorkloadExited, allocation_id=marker.allocation_id)
    assert len(node.tap.of(WorkloadStarted, allocation_id=start.allocation_id)) == 1
    await node.send(node.stop_command(start))
    await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id, stopped=True)


async def test_commands_with_an_older_epoch_are_refused(node: Node) -> None:
    node.epoch = 7
    current = node.start_command(SLEEPER)
    await node.send(current)
    await node.tap.wait_for(WorkloadStarted, allocation_id=current.allocation_id)

    stale_start = node.start_command(python("pass"), epoch=6)
    stale_stop = node.stop_command(current, epoch=6)
    await node.send(stale_start)
    await node.send(stale_stop)
    marker = node.start_command(python("pass"))
    await node.send(marker)

    await node.tap.wait_for(WorkloadExited, allocation_id=marker.allocation_id)
    assert node.tap.of(WorkloadStarted, allocation_id=stale_start.allocation_id) == []
    assert (
        node.tap.of(WorkloadExited, allocation_id=current.allocation_id) == []
    )  # the stale stop did nothing
    await node.send(node.stop_command(current))
    await node.tap.wait_for(WorkloadExited, allocation_id=current.allocation_id, stopped=True)


async def test_a_start_naming_a_gpu_of_another_node_is_rejected(node: Node) -> None:
    start = node.start_command(python("pass"), gpu_uuids=["GPU-not-here"])
    await node.send(start)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert exited.exit_code == 125
    assert "GPU not on this node: GPU-not-here" in node.log_of(start)

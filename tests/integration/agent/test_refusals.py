"""A real agent refuses what it cannot or must not run, reports it, and goes on serving the next start."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.agent.adapters.state_file import JsonStateFile
from services.agent.app.ports import EXIT_REJECTED
from services.agent.domain.state import Phase, WorkloadRecord
from services.agent.runtime.processes import ProcessRuntime
from shared.events.agent import WorkloadExited, WorkloadStarted
from tests.integration.agent.conftest import Node, python, start_in_process

SLEEPER = python("import time; time.sleep(60)")


async def assert_still_serving(node: Node) -> None:
    marker = node.start_command(python("pass"), gpu_uuids=node.gpu_uuids[1:])
    await node.send(marker)
    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=marker.allocation_id))[0]
    assert exited.exit_code == 0


async def test_a_start_with_an_environment_the_os_refuses_is_a_rejected_exit(node: Node) -> None:
    # Built directly, as the gateway (which refuses such names) would never send it.
    for env in ({"A=B": "1"}, {"": "1"}, {"OK": "nul\x00inside"}):
        start = node.start_command(python("pass"), env=env)
        await node.send(start)

        exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
        assert (exited.exit_code, exited.stopped, exited.will_restart) == (EXIT_REJECTED, False, False)
        assert not exited.refused  # the job's own fault: it fails
        assert node.tap.of(WorkloadStarted, allocation_id=start.allocation_id) == []
        assert "cannot launch: environment variable" in node.log_of(start)
    await assert_still_serving(node)


async def test_an_agent_restarted_with_an_unlaunchable_start_pending_reports_it_and_serves(
    new_node: Callable[[], Awaitable[Node]], nats_url: str
) -> None:
    node = await new_node()
    start = node.start_command(python("pass"), env={"A=B": "1"})
    # What a crash between saving the launch and launching it leaves behind.
    exit_file, log_file = ProcessRuntime(node.state_dir).files_for(start.job_id, 0, start.allocation_id)
    store = JsonStateFile(node.state_dir)
    state = store.load()
    state.observe_epoch(node.epoch)
    state.workloads[start.allocation_id] = WorkloadRecord(
        job_id=start.job_id,
        allocation_id=start.allocation_id,
        replica=0,
        kind="training",
        command=list(start.command),
        env=dict(start.env),
        gpu_uuids=list(start.gpu_uuids),
        epoch=node.epoch,
        exit_file=exit_file,
        log_file=log_file,
        phase=Phase.LAUNCHING,
    )
    store.save(state)

    await start_in_process(node, nats_url)
    await node.send(start)  # and the command, still queued, redelivered

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert exited.exit_code == EXIT_REJECTED
    await assert_still_serving(node)
    assert len(node.tap.of(WorkloadExited, allocation_id=start.allocation_id)) == 1


async def test_a_start_on_a_gpu_a_running_workload_holds_is_rejected(node: Node) -> None:
    first = node.start_command(SLEEPER)
    await node.send(first)
    await node.tap.wait_for(WorkloadStarted, allocation_id=first.allocation_id)

    second = node.start_command(SLEEPER)  # the same GPU, another allocation
    await node.send(second)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=second.allocation_id))[0]
    assert (exited.exit_code, exited.refused) == (EXIT_REJECTED, True)  # never ran: requeued
    assert node.tap.of(WorkloadStarted, allocation_id=second.allocation_id) == []
    assert f"GPU held by another workload here: {node.gpu_uuids[0]}" in node.log_of(second)
    await node.send(node.stop_command(first))
    await node.tap.wait_for(WorkloadExited, allocation_id=first.allocation_id, stopped=True)

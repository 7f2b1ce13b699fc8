"""Starts the agent must not run: a launch that raises, GPUs its own workloads hold, allocations that
finished long ago. Each is reported (or ignored) and the agent goes on with the next command."""

from __future__ import annotations

from decimal import Decimal

from services.agent.app.ports import EXIT_REJECTED
from services.agent.domain.state import AgentState, Phase, WorkloadRecord
from tests.unit.agent.builders import GPUS, record, start_command, stop_command
from tests.unit.agent.test_workloads_app import World

WEEK_S = 7 * 86_400.0


class RaisingOn:
    """A launch that raises what Popen raises for an environment it cannot pass (not LaunchFailed)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __call__(self, launching: WorkloadRecord) -> None:
        if any("=" in name for name in launching.env):
            raise self.error


async def test_any_exception_while_launching_is_a_rejected_exit_and_the_next_start_runs() -> None:
    for error in (ValueError("illegal environment variable name"), OSError(7, "E2BIG"), TypeError("x")):
        world = World()
        world.processes.on_launch = RaisingOn(error)

        await world.commands.handle(start_command("bad", env={"A=B": "1"}))
        await world.commands.handle(start_command("good", gpu_uuids=[GPUS[1]]))

        [exited] = world.exits()
        assert (exited.allocation_id, exited.exit_code, exited.stopped) == ("bad", EXIT_REJECTED, False)
        assert not exited.refused  # the job's own fault: it fails
        assert [started.allocation_id for started in world.starts()] == ["good"]
        saved = world.store.saved[-1]
        assert "bad" not in saved.workloads and "bad" in saved.finished
        assert any("cannot launch" in note for note in world.processes.notes)


async def test_a_start_left_launching_by_a_crash_that_cannot_launch_is_reported_at_restart() -> None:
    state = AgentState(
        newest_epoch=3,
        workloads={"bad": record("bad", phase=Phase.LAUNCHING, pid=0, launches=0, env={"A=B": "1"})},
    )
    world = World(state)
    world.processes.on_launch = RaisingOn(ValueError("illegal environment variable name"))

    assert world.supervisor.reconcile().running == []
    await world.supervisor.resume()  # before: the ValueError ended the agent, at every restart
    await world.commands.handle(start_command("bad", env={"A=B": "1"}))  # the command, redelivered

    assert [(e.allocation_id, e.exit_code) for e in world.exits()] == [("bad", EXIT_REJECTED)]
    assert world.store.saved[-1].workloads == {}


async def test_a_start_on_a_gpu_a_live_workload_holds_is_rejected_not_launched() -> None:
    world = World()
    await world.commands.handle(start_command("a1", gpu_uuids=[GPUS[0]]))
    await world.commands.handle(start_command("a2", gpu_uuids=[GPUS[1], GPUS[0]]))
    await world.commands.handle(start_command("a3", gpu_uuids=[GPUS[1]]))

    assert [started.allocation_id for started in world.starts()] == ["a1", "a3"]
    [rejected] = world.exits()
    assert (rejected.allocation_id, rejected.exit_code, rejected.refused) == ("a2", EXIT_REJECTED, True)
    assert any("GPU held by another workload here: " + GPUS[0] in note for note in world.processes.notes)


async def test_a_stopping_workload_holds_its_gpu_until_its_exit_is_reported() -> None:
    world = World()
    await world.commands.handle(start_command("a1"))
    await world.commands.handle(stop_command("a1"))
    await world.commands.handle(start_command("a2"))  # the process of a1 has not exited yet
    assert [e.allocation_id for e in world.exits()] == ["a2"]

    world.processes.end(101, 143)
    await world.wait_for_exits(2)
    await world.commands.handle(start_command("a3"))
    assert [started.allocation_id for started in world.starts()] == ["a1", "a3"]


async def test_shares_of_a_gpu_fit_up_to_one_whole_gpu() -> None:
    world = World()
    for allocation_id, share in (("h1", "0.5"), ("h2", "0.25"), ("h3", "0.5"), ("h4", "0.25")):
        await world.commands.handle(start_command(allocation_id, gpu_share=Decimal(share)))

    assert [started.allocation_id for started in world.starts()] == ["h1", "h2", "h4"]
    assert [(e.allocation_id, e.exit_code) for e in world.exits()] == [("h3", EXIT_REJECTED)]


async def test_a_finished_allocation_is_remembered_beyond_1024_others_for_the_stream_retention() -> None:
    world = World()
    await world.commands.handle(start_command("old"))
    world.processes.end(101, 0)
    await world.supervisor.check_once()
    for index in range(1500):  # more than the 1,024 an agent used to remember
        await world.commands.handle(start_command(f"x{index}", gpu_uuids=[]))
        world.processes.end(world.processes.next_pid, 0)
        await world.supervisor.check_once()

    await world.commands.handle(start_command("old"))  # re-sent long after JetStream's dedupe window
    assert [started.allocation_id for started in world.starts()].count("old") == 1
    assert "old" in world.store.load().finished  # and so after a restart too


def test_finished_allocations_are_forgotten_only_after_the_window() -> None:
    state = AgentState()
    state.finish("a1", at=1000.0)
    state.finish("a2", at=2000.0)
    state.finish("a1", at=3000.0)  # a second report keeps the first time

    state.forget_finished_before(1000.0)
    assert list(state.finished) == ["a1", "a2"]
    state.forget_finished_before(1000.0 + WEEK_S)
    assert state.finished == {}


async def test_a_start_from_a_deposed_leader_is_reported_refused_not_run() -> None:
    world = World()
    await world.commands.handle(start_command("a1", epoch=5))
    await world.commands.handle(start_command("old", epoch=4, gpu_uuids=[GPUS[1]]))

    assert [started.allocation_id for started in world.starts()] == ["a1"]
    [refused] = world.exits()
    assert (refused.allocation_id, refused.exit_code, refused.refused) == ("old", EXIT_REJECTED, True)
    assert any("stale epoch" in note for note in world.processes.notes)


async def test_a_stale_redelivery_of_a_start_already_taken_changes_nothing() -> None:
    world = World()
    await world.commands.handle(start_command("a1", epoch=4))
    world.processes.end(101, 0)
    await world.supervisor.check_once()
    await world.commands.handle(start_command("a2", epoch=4, gpu_uuids=[GPUS[1]]))
    await world.commands.handle(start_command("new", epoch=5, gpu_uuids=[]))

    await world.commands.handle(start_command("a1", epoch=4))  # finished here: not refused again
    await world.commands.handle(start_command("a2", epoch=4, gpu_uuids=[GPUS[1]]))  # still running

    assert [(e.allocation_id, e.exit_code, e.refused) for e in world.exits()] == [("a1", 0, False)]
    assert world.store.saved[-1].workloads["a2"].phase is Phase.RUNNING

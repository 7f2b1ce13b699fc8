"""The workload use cases over fake processes: launch, exits, restarts, stops, fencing, reconciling."""

from __future__ import annotations

import asyncio

from services.agent.app.commands import NodeCommands
from services.agent.domain.state import AgentState, Phase
from shared.events.agent import WorkloadExited, WorkloadStarted
from shared.events.jobs import JobKind
from tests.unit.agent.builders import GPUS, record, start_command, stop_command
from tests.unit.agent.fakes import FakeMonotonic, FakeProcesses, MemoryStore, RecordingPublisher, supervisor


class World:
    def __init__(self, state: AgentState | None = None) -> None:
        self.store = MemoryStore(state)
        self.processes = FakeProcesses(on_launch=self._check_intent_saved)
        self.publisher = RecordingPublisher()
        self.time = FakeMonotonic()
        self.supervisor = supervisor(state, self.processes, self.publisher, self.store, self.time)
        self.commands = NodeCommands("n1", self.supervisor, GPUS)

    def _check_intent_saved(self, launching: object) -> None:
        # The launch is on disk before the process exists: a crash here cannot run it twice.
        saved = self.store.saved[-1].workloads[launching.allocation_id]  # type: ignore[attr-defined]
        assert saved.phase is Phase.LAUNCHING

    def exits(self) -> list[WorkloadExited]:
        return self.publisher.of(WorkloadExited)

    async def wait_for_exits(self, count: int, timeout: float = 2.0) -> None:
        """Stops finish in a task of their own; poll for their report with a deadline."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.exits()) < count:
            assert asyncio.get_running_loop().time() < deadline, f"no {count} exit(s) after {timeout}s"
            await asyncio.sleep(0.005)

    def starts(self) -> list[WorkloadStarted]:
        return self.publisher.of(WorkloadStarted)


async def test_a_start_launches_saves_and_reports() -> None:
    world = World()
    await world.commands.handle(start_command("a1", epoch=4))

    [started] = world.starts()
    assert (started.allocation_id, started.pid, started.epoch, started.tenant_id) == ("a1", 101, 4, "t1")
    saved = world.store.saved[-1]
    assert saved.workloads["a1"].phase is Phase.RUNNING and saved.workloads["a1"].pid == 101
    assert saved.newest_epoch == 4


async def test_a_training_exit_is_reported_once_and_forgotten() -> None:
    world = World()
    await world.commands.handle(start_command("a1"))
    world.processes.end(101, 0)

    await world.supervisor.check_once()
    await world.supervisor.check_once()

    [exited] = world.exits()
    assert (exited.exit_code, exited.will_restart, exited.stopped) == (0, False, False)
    assert world.store.saved[-1].workloads == {} and list(world.store.saved[-1].finished) == ["a1"]


async def test_stale_and_duplicate_commands_have_no_effect() -> None:
    world = World()
    await world.commands.handle(start_command("a1", epoch=5))
    await world.commands.handle(start_command("a1", epoch=5))  # redelivered
    await world.commands.handle(stop_command("a1", epoch=4))  # from a deposed leader
    await world.commands.handle(stop_command("ghost", epoch=5))  # unknown: just acked

    assert [event.allocation_id for event in world.starts()] == ["a1"]
    assert world.exits() == [] and world.processes.terminated == []


async def test_a_start_after_its_workload_finished_is_not_run_again() -> None:
    world = World()
    await world.commands.handle(start_command("a1"))
    world.processes.end(101, 0)
    await world.supervisor.check_once()

    await world.commands.handle(start_command("a1"))

    assert len(world.starts()) == 1


async def test_an_inference_replica_restarts_with_growing_backoff() -> None:
    world = World()
    await world.commands.handle(start_command("a1", kind=JobKind.INFERENCE))

    world.processes.end(101, 1)
    await world.supervisor.check_once()
    assert [(e.exit_code, e.will_restart) for e in world.exits()] == [(1, True)]
    await world.supervisor.check_once()
    assert len(world.starts()) == 1  # still backing off
    world.time.now += 1.0
    await world.supervisor.check_once()
    assert [e.pid for e in world.starts()] == [101, 102]

    world.processes.end(102, 1)
    await world.supervisor.check_once()
    world.time.now += 1.5
    await world.supervisor.check_once()
    assert len(world.starts()) == 2  # the second quick failure waits 2 s
    world.time.now += 0.5
    await world.supervisor.check_once()
    assert len(world.starts()) == 3
    assert len({e.event_id for e in world.exits()}) == 2


async def test_a_stop_while_an_inference_replica_waits_to_restart_ends_it_at_once() -> None:
    world = World()
    await world.commands.handle(start_command("a1", kind=JobKind.INFERENCE))
    world.processes.end(101, 9)
    await world.supervisor.check_once()

    await world.commands.handle(stop_command("a1"))
    world.time.now += 60
    await world.supervisor.check_once()

    assert [(e.exit_code, e.will_restart, e.stopped) for e in world.exits()] == [
        (9, True, False),
        (9, False, True),
    ]
    assert len(world.starts()) == 1
    assert len({e.event_id for e in world.exits()}) == 2


async def test_a_stop_terminates_and_reports_when_the_process_ends() -> None:
    world = World()
    await world.commands.handle(start_command("a1"))
    await world.commands.handle(stop_command("a1", grace_s=30.0))
    assert world.processes.terminated == [101]
    world.processes.end(101, 143)

    await world.wait_for_exits(1)

    [exited] = world.exits()
    assert (exited.exit_code, exited.stopped) == (143, True)


async def test_a_program_that_cannot_launch_exits_127_and_an_inference_one_is_not_restarted() -> None:
    world = World()
    world.processes.missing_programs.add("nope")
    await world.commands.handle(start_command("a1", command=["nope"], kind=JobKind.INFERENCE))
    world.time.now += 60
    await world.supervisor.check_once()

    assert world.starts() == []
    assert [(e.exit_code, e.will_restart) for e in world.exits()] == [(127, False)]
    assert any("command not found" in note for note in world.processes.notes)


async def test_a_node_that_cannot_run_workloads_refuses_the_start_and_serves_the_next() -> None:
    world = World()
    world.processes.refusing = "the workload sandbox is unavailable: bubblewrap not found"
    await world.commands.handle(start_command("a1"))

    assert world.starts() == []
    [exited] = world.exits()
    assert (exited.exit_code, exited.refused, exited.stopped, exited.will_restart) == (
        125,
        True,
        False,
        False,
    )
    assert any("bubblewrap not found" in note for note in world.processes.notes)
    assert "a1" not in world.supervisor.state.workloads  # finished: a redelivered start is not run

    world.processes.refusing = None
    await world.commands.handle(start_command("a2", gpu_uuids=[GPUS[1]]))
    assert [started.allocation_id for started in world.starts()] == ["a2"]


async def test_an_inference_replica_that_ran_before_fails_rather_than_is_refused() -> None:
    world = World()
    await world.commands.handle(start_command("a1", kind=JobKind.INFERENCE))
    world.processes.end(101, 1)
    await world.supervisor.check_once()  # exited: restarting after its backoff
    world.processes.refusing = "the workload sandbox is unavailable"
    world.time.now += 60
    await world.supervisor.check_once()

    final = world.exits()[-1]
    assert (final.exit_code, final.refused, final.will_restart) == (125, False, False)


async def test_after_a_restart_live_workloads_are_adopted_and_ended_ones_reported() -> None:
    state = AgentState(
        newest_epoch=3,
        workloads={
            "alive": record("alive", pid=201),
            "ended": record("ended", pid=202),
            "half-launched": record("half-launched", pid=0, phase=Phase.LAUNCHING, launches=0),
            "never-launched": record("never-launched", pid=0, phase=Phase.LAUNCHING, launches=0),
            "stopping": record("stopping", pid=204, phase=Phase.STOPPING, stop_grace_s=30.0),
            "stopped-away": record("stopped-away", pid=205, phase=Phase.STOPPING, stop_grace_s=30.0),
        },
        finished={"done-before": 1.0},
    )
    world = World(state)
    world.processes.alive |= {201, 203, 204}
    world.processes.exit_codes[202] = 5
    world.processes.exit_codes[205] = 143
    world.processes.found["half-launched"] = 203
    world.processes.on_launch = lambda _: None

    # The registration accounts for every allocation: what runs, what ended while away (with its code),
    # what is held without a process, what finished before.
    accounting = world.supervisor.reconcile()
    assert sorted((w.allocation_id, w.pid) for w in accounting.running) == [
        ("alive", 201),
        ("half-launched", 203),
        ("stopping", 204),
    ]
    assert sorted((e.allocation_id, e.exit_code, e.stopped) for e in accounting.exited) == [
        ("ended", 5, False),
        ("stopped-away", 143, True),
    ]
    assert accounting.held == ["never-launched"]
    assert accounting.finished == ["done-before"]

    await world.supervisor.resume()
    assert sorted((e.allocation_id, e.exit_code) for e in world.exits()) == [
        ("ended", 5),
        ("stopped-away", 143),
    ]
    assert sorted(e.allocation_id for e in world.starts()) == ["alive", "half-launched", "never-launched"]
    assert world.processes.terminated == [204]  # the interrupted stop goes on
    await world.supervisor.close()


async def test_a_started_event_re_sent_after_a_restart_keeps_its_id() -> None:
    world = World()
    await world.commands.handle(start_command("a1"))
    first = world.starts()[0]

    again = World(world.store.load())
    again.processes.alive.add(first.pid)
    again.supervisor.reconcile()
    await again.supervisor.resume()

    assert again.starts()[0].event_id == first.event_id


async def test_a_workload_that_ignores_sigterm_is_killed_after_the_capped_grace() -> None:
    world = World()
    await world.commands.handle(start_command("a1"))
    # The settings cap the grace at 3 s (not the hour asked for); the fake clock runs fast.
    await world.commands.handle(stop_command("a1", grace_s=3600.0))
    world.time.step = 0.5

    await world.wait_for_exits(1)

    assert world.processes.killed == [101]
    [exited] = world.exits()
    assert (exited.exit_code, exited.stopped) == (137, True)

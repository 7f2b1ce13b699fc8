"""In-memory stand-ins for the agent's ports."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

from services.agent.app.ports import UNKNOWN_EXIT_CODE, LaunchFailed
from services.agent.app.workloads import SupervisorSettings, WorkloadSupervisor
from services.agent.domain.state import AgentState, WorkloadRecord
from shared.clock import ManualClock
from shared.events.base import Event


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    def of(self, event_type: type[Event]) -> list:
        return [event for event in self.events if isinstance(event, event_type)]


class MemoryStore:
    def __init__(self, state: AgentState | None = None) -> None:
        self.saved: list[AgentState] = [copy.deepcopy(state)] if state else []

    def load(self) -> AgentState:
        return copy.deepcopy(self.saved[-1]) if self.saved else AgentState()

    def save(self, state: AgentState) -> None:
        self.saved.append(copy.deepcopy(state))

    def save_changes(self, state: AgentState, allocation_ids: Iterable[str]) -> None:
        # What a journal replay would give: the whole state as of this change.
        self.save(state)


class FakeProcesses:
    """Processes that run until the test ends them; pids count up from 100."""

    def __init__(self, on_launch: Callable[[WorkloadRecord], None] = lambda _: None) -> None:
        self.next_pid = 100
        self.alive: set[int] = set()
        self.exit_codes: dict[int, int] = {}
        self.terminated: list[int] = []
        self.killed: list[int] = []
        self.found: dict[str, int] = {}
        self.missing_programs: set[str] = set()
        self.notes: list[str] = []
        self.refusing: str | None = None  # why this node runs nothing (its sandbox is unavailable, say)
        self.on_launch = on_launch

    def files_for(self, job_id: str, replica: int, allocation_id: str) -> tuple[str, str]:
        return f"/run/{allocation_id}.exit", f"/logs/{job_id}-{replica}.log"

    def launch(self, record: WorkloadRecord) -> int:
        self.on_launch(record)
        if self.refusing is not None:
            raise LaunchFailed(125, f"not started: {self.refusing}", refused=record.launches == 0)
        if record.command[0] in self.missing_programs:
            raise LaunchFailed(127, f"cannot launch {record.command[0]!r}: command not found")
        self.next_pid += 1
        self.alive.add(self.next_pid)
        return self.next_pid

    def end(self, pid: int, code: int) -> None:
        self.alive.discard(pid)
        self.exit_codes[pid] = code

    def exit_code(self, record: WorkloadRecord) -> int | None:
        if record.pid in self.alive:
            return None
        return self.exit_codes.get(record.pid, UNKNOWN_EXIT_CODE)

    def terminate(self, record: WorkloadRecord) -> None:
        self.terminated.append(record.pid)

    def kill(self, record: WorkloadRecord) -> None:
        self.killed.append(record.pid)
        self.alive.discard(record.pid)

    def find_launched(self, record: WorkloadRecord) -> int | None:
        return self.found.get(record.allocation_id)

    def note(self, record: WorkloadRecord, message: str) -> None:
        self.notes.append(message)

    def forget(self, record: WorkloadRecord) -> None:
        pass


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 0.0
        self.step = 0.0  # seconds that pass at each reading, for code that waits on this clock

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def supervisor(
    state: AgentState | None = None,
    processes: FakeProcesses | None = None,
    publisher: RecordingPublisher | None = None,
    store: MemoryStore | None = None,
    monotonic: FakeMonotonic | None = None,
) -> WorkloadSupervisor:
    state = state or AgentState()
    return WorkloadSupervisor(
        "n1",
        state,
        store or MemoryStore(state),
        processes or FakeProcesses(),
        publisher or RecordingPublisher(),
        ManualClock(),
        SupervisorSettings(
            restart_backoff_s=1.0, restart_backoff_max_s=8.0, max_stop_grace_s=3.0, poll_s=0.01
        ),
        monotonic=monotonic or FakeMonotonic(),
    )

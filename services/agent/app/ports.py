"""The ports the agent's use cases drive; adapters and runtime/ implement them, tests fake them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from services.agent.domain.state import AgentState, WorkloadRecord
from shared.events.base import Event

# The exit code reported when a process vanished without leaving one (killed with its wrapper).
UNKNOWN_EXIT_CODE = -1
# As `docker run` does: the agent itself refused to run the command (for example a GPU not on this node).
EXIT_REJECTED = 125


class EventPublisher(Protocol):
    async def publish(self, event: Event) -> None:
        """Returns once the event is stored in JetStream; retries until then."""
        ...


class StateStore(Protocol):
    def load(self) -> AgentState: ...

    def save(self, state: AgentState) -> None:
        """The whole state."""

    def save_changes(self, state: AgentState, allocation_ids: Iterable[str]) -> None:
        """Only these workloads (as they now are, or finished when gone) and the newest epoch."""


class LaunchFailed(Exception):
    """`refused`: the node cannot run it (its sandbox is unavailable, say), not the job's fault: reported
    as a refused start, so the job goes back to its queue."""

    def __init__(self, exit_code: int, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason
        self.refused = refused


class WorkloadProcesses(Protocol):
    """Operating-system processes of workloads, one launch at a time per record."""

    def files_for(self, job_id: str, replica: int, allocation_id: str) -> tuple[str, str]:
        """(exit file, log file) paths for a new workload."""
        ...

    def launch(self, record: WorkloadRecord) -> int:
        """Starts the record's command; returns its pid. Raises LaunchFailed when it cannot start (refused
        when this node cannot run any workload now)."""
        ...

    def exit_code(self, record: WorkloadRecord) -> int | None:
        """None while the process runs; its exit code (or UNKNOWN_EXIT_CODE) once it has ended."""
        ...

    def terminate(self, record: WorkloadRecord) -> None: ...

    def kill(self, record: WorkloadRecord) -> None: ...

    def find_launched(self, record: WorkloadRecord) -> int | None:
        """The pid of the record's process if one was launched before a crash recorded it."""
        ...

    def note(self, record: WorkloadRecord, message: str) -> None:
        """A line from the agent in the workload's log."""
        ...

    def forget(self, record: WorkloadRecord) -> None:
        """Drop what is kept about the last launch (its exit file), before a relaunch or at the end."""
        ...


CommandHandler = Callable[[Event], Awaitable[None]]


class CommandSource(Protocol):
    async def open(self) -> None:
        """Bind the durable consumer, so no command sent after registration is missed."""
        ...

    async def run(self, handle: CommandHandler) -> None: ...

    async def close(self) -> None: ...

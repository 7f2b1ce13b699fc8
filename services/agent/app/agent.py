"""The node agent's life: reconcile, register, then heartbeat, sample, watch and obey until stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from services.agent.app.cancellation import raise_if_cancelled
from services.agent.app.commands import NodeCommands
from services.agent.app.ports import CommandSource, EventPublisher
from services.agent.app.sampler import UsageSampler
from services.agent.app.workloads import WorkloadSupervisor
from shared.clock import Clock
from shared.events.agent import GpuInfo, Heartbeat, NodeRegistered

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeDescription:
    node_id: str
    hostname: str
    backend: str
    gpus: list[GpuInfo]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Intervals:
    heartbeat_s: float = 2.0
    sample_s: float = 5.0


class NodeAgent:
    def __init__(
        self,
        node: NodeDescription,
        supervisor: WorkloadSupervisor,
        sampler: UsageSampler,
        commands: NodeCommands,
        command_source: CommandSource,
        publisher: EventPublisher,
        clock: Clock,
        intervals: Intervals,
    ) -> None:
        self.node = node
        self.supervisor = supervisor
        self._sampler = sampler
        self._commands = commands
        self._command_source = command_source
        self._publisher = publisher
        self._clock = clock
        self._intervals = intervals

    async def run(self) -> None:
        """1. adopt what survived a restart; 2. bind the command consumer; 3. register; 4. settle what
        ended while away; 5. loop until cancelled.

        The registration accounts for every allocation the agent knows (still running, ended while it
        was away with the exit codes, held without a process, recently finished), taken before any
        command is handled, so the scheduler never takes a workload the agent will report for gone.
        Start commands queued while the agent was away come after it and are reported as they are taken.
        """
        accounting = self.supervisor.reconcile()
        await self._command_source.open()
        await self._publisher.publish(
            NodeRegistered(
                occurred_at=self._clock.now(),
                node_id=self.node.node_id,
                hostname=self.node.hostname,
                backend=self.node.backend,
                gpus=self.node.gpus,
                labels=self.node.labels,
                running=accounting.running,
                exited=accounting.exited,
                held=accounting.held,
                finished=accounting.finished,
            )
        )
        log.info(
            "node %s registered: %d %s GPU(s), %d workload(s) still running, %d ended while away",
            self.node.node_id, len(self.node.gpus), self.node.backend, len(accounting.running),
            len(accounting.exited),
        )  # fmt: skip
        await self.supervisor.resume()
        await self._sampler.sample_once()  # the energy baseline
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(every(self._intervals.heartbeat_s, self._heartbeat, "heartbeat"))
                group.create_task(every(self._intervals.sample_s, self._sampler.sample_once, "sampling"))
                group.create_task(self.supervisor.watch())
                group.create_task(self._command_source.run(self._commands.handle))
        finally:
            await self.supervisor.close()
            await self._command_source.close()

    async def _heartbeat(self) -> None:
        await self._publisher.publish(
            Heartbeat(
                occurred_at=self._clock.now(), node_id=self.node.node_id, running=self.supervisor.running()
            )
        )


async def every(interval_s: float, step: Callable[[], Awaitable[None]], name: str) -> None:
    """Run `step` every interval; a failed step is logged and the loop goes on."""
    while True:
        raise_if_cancelled()
        await asyncio.sleep(interval_s)
        try:
            await step()
        except Exception:
            raise_if_cancelled()
            log.exception("%s failed; trying again in %.1fs", name, interval_s)

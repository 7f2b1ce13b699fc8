"""The scheduler's commands to this node: fenced by epoch, idempotent under redelivery."""

from __future__ import annotations

import logging
from collections.abc import Collection

from services.agent.app.workloads import WorkloadSupervisor
from services.agent.domain.fencing import Verdict, judge_start, judge_stop, rejection_detail
from shared.events.base import Event
from shared.events.scheduler import StartWorkload, StopWorkload

log = logging.getLogger(__name__)


class NodeCommands:
    def __init__(self, node_id: str, supervisor: WorkloadSupervisor, node_gpus: Collection[str]) -> None:
        self._node_id = node_id
        self._supervisor = supervisor
        self._node_gpus = frozenset(node_gpus)

    async def handle(self, command: Event) -> None:
        """Apply one command; a refused one is logged and has no effect (the caller acks it either way)."""
        async with self._supervisor.lock:
            if isinstance(command, StartWorkload):
                await self._start(command)
            elif isinstance(command, StopWorkload):
                await self._stop(command)
            else:
                log.warning("ignoring %s: not a command for agents", type(command).__name__)

    async def _start(self, command: StartWorkload) -> Verdict:
        state = self._supervisor.state
        verdict = judge_start(state, self._node_id, command, self._node_gpus)
        self._observe_epoch(verdict, command.epoch)
        if verdict.applies:
            await self._supervisor.start(command)
        elif verdict.refuses_start:
            detail = rejection_detail(verdict, state, command, self._node_gpus)
            await self._supervisor.refuse(command, detail)
        else:
            self._refused("start", command.allocation_id, command.epoch, verdict)
        return verdict

    async def _stop(self, command: StopWorkload) -> Verdict:
        verdict = judge_stop(self._supervisor.state, self._node_id, command)
        self._observe_epoch(verdict, command.epoch)
        if verdict.applies:
            await self._supervisor.stop(command)
        else:
            self._refused("stop", command.allocation_id, command.epoch, verdict)
        return verdict

    def _observe_epoch(self, verdict: Verdict, epoch: int) -> None:
        if verdict in (Verdict.STALE_EPOCH, Verdict.WRONG_NODE):
            return
        state = self._supervisor.state
        if epoch > state.newest_epoch:
            log.info("scheduler epoch %d -> %d", state.newest_epoch, epoch)
            state.observe_epoch(epoch)
            self._supervisor.save_epoch()

    def _refused(self, what: str, allocation_id: str, epoch: int, verdict: Verdict) -> None:
        newest = self._supervisor.state.newest_epoch
        level = logging.WARNING if verdict in (Verdict.STALE_EPOCH, Verdict.WRONG_NODE) else logging.INFO
        log.log(
            level,
            "%s of allocation %s (epoch %d, newest %d) has no effect: %s",
            what,
            allocation_id,
            epoch,
            newest,
            verdict.value,
        )

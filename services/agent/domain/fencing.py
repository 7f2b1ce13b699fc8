"""Whether a command from the scheduler takes effect: epoch fencing and idempotency.

The scheduler's leader lease has an epoch that grows with each new leader; a command carrying an older
epoch than the newest this agent has seen comes from a deposed leader and is refused. A command that
was already applied (a redelivery) has no second effect.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum

from services.agent.domain.state import WHOLE_GPU_MILLI, AgentState, Phase
from shared.events.jobs import share_to_milli
from shared.events.scheduler import StartWorkload, StopWorkload


class Verdict(StrEnum):
    APPLY = "apply"
    STALE_EPOCH = "stale epoch"
    WRONG_NODE = "command addressed to another node"
    ALREADY_RUNNING = "allocation already running here"
    ALREADY_FINISHED = "allocation already finished here"
    UNKNOWN_GPU = "GPU not on this node"
    GPU_IN_USE = "GPU held by another workload here"
    UNKNOWN_ALLOCATION = "allocation unknown here"
    ALREADY_STOPPING = "allocation already stopping"

    @property
    def applies(self) -> bool:
        return self is Verdict.APPLY

    @property
    def refuses_start(self) -> bool:
        """The start cannot run here for the platform's state, not the job's fault (a deposed leader's
        command, GPUs this node does not have or uses): the scheduler must hear it never ran."""
        return self in (Verdict.STALE_EPOCH, Verdict.UNKNOWN_GPU, Verdict.GPU_IN_USE)


def judge_start(
    state: AgentState, node_id: str, command: StartWorkload, node_gpus: Collection[str]
) -> Verdict:
    if command.node_id != node_id:
        return Verdict.WRONG_NODE
    # A redelivery first, whatever its epoch: only a start never taken here is reported refused.
    if command.allocation_id in state.workloads:
        return Verdict.ALREADY_RUNNING
    if command.allocation_id in state.finished:
        return Verdict.ALREADY_FINISHED
    if command.epoch < state.newest_epoch:
        return Verdict.STALE_EPOCH
    if any(uuid not in node_gpus for uuid in command.gpu_uuids):
        return Verdict.UNKNOWN_GPU
    if busy_gpus(state, command):
        # Never two workloads on one GPU by accident: whatever the scheduler believes, this node knows
        # what still runs (an allocation released while its workload was still running, for example).
        return Verdict.GPU_IN_USE
    return Verdict.APPLY


def judge_stop(state: AgentState, node_id: str, command: StopWorkload) -> Verdict:
    common = _judge_common(state, node_id, command.node_id, command.epoch)
    if common is not None:
        return common
    record = state.workloads.get(command.allocation_id)
    if record is None:
        return Verdict.UNKNOWN_ALLOCATION
    if record.phase is Phase.STOPPING:
        return Verdict.ALREADY_STOPPING
    return Verdict.APPLY


def unknown_gpus(command: StartWorkload, node_gpus: Collection[str]) -> list[str]:
    return [uuid for uuid in command.gpu_uuids if uuid not in node_gpus]


def busy_gpus(state: AgentState, command: StartWorkload) -> list[str]:
    """The command's GPUs whose share would go over one whole GPU with the workloads already here."""
    held = state.held_milli()
    wanted = share_to_milli(command.gpu_share)
    return [uuid for uuid in command.gpu_uuids if held.get(uuid, 0) + wanted > WHOLE_GPU_MILLI]


def rejection_detail(
    verdict: Verdict, state: AgentState, command: StartWorkload, node_gpus: Collection[str]
) -> str:
    if verdict is Verdict.STALE_EPOCH:
        return f"{verdict.value}: {command.epoch}, newest {state.newest_epoch}"
    gpus = busy_gpus(state, command) if verdict is Verdict.GPU_IN_USE else unknown_gpus(command, node_gpus)
    return f"{verdict.value}: {', '.join(gpus)}"


def _judge_common(state: AgentState, node_id: str, addressed_to: str, epoch: int) -> Verdict | None:
    if addressed_to != node_id:
        return Verdict.WRONG_NODE
    if epoch < state.newest_epoch:
        return Verdict.STALE_EPOCH
    return None

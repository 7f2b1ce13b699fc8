"""What a node agent remembers across restarts: the newest scheduler epoch and the workloads it runs.

Pure data with a JSON-friendly dict form; the adapter writes it to the state file atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.events.agent import RunningWorkload

STATE_VERSION = 1
WHOLE_GPU_MILLI = 1000


class Phase(StrEnum):
    # Written before the process is launched: after a crash, the restart looks for it before relaunching.
    LAUNCHING = "launching"
    RUNNING = "running"
    # An inference replica between its exit and its relaunch.
    RESTARTING = "restarting"
    # A stop command was accepted: the process is being terminated.
    STOPPING = "stopping"


@dataclass
class WorkloadRecord:
    job_id: str
    allocation_id: str
    replica: int
    kind: str  # JobKind value
    command: list[str]
    env: dict[str, str]  # the job's own variables; the platform's are added at each launch
    gpu_uuids: list[str]
    epoch: int
    exit_file: str
    log_file: str
    tenant_id: str | None = None
    # Thousandths of each bound GPU it holds (absent in older state files: whole GPUs).
    gpu_milli: int = WHOLE_GPU_MILLI
    pid: int = 0
    phase: Phase = Phase.LAUNCHING
    launches: int = 0
    consecutive_failures: int = 0
    last_exit_code: int | None = None
    stop_grace_s: float = 0.0

    @property
    def is_inference(self) -> bool:
        return self.kind == "inference"

    @property
    def has_process(self) -> bool:
        return self.pid > 0 and self.phase in (Phase.RUNNING, Phase.STOPPING)

    def as_running(self) -> RunningWorkload:
        return RunningWorkload(
            job_id=self.job_id, allocation_id=self.allocation_id, replica=self.replica, pid=self.pid
        )

    def to_dict(self) -> dict[str, Any]:
        # A shallow copy, not dataclasses.asdict: every change is journalled (and snapshots written), and
        # asdict's deep copy of every record made those writes the agent's main cost.
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkloadRecord:
        values = dict(data)
        values["phase"] = Phase(values.get("phase", Phase.RUNNING))
        return cls(**values)


@dataclass
class AgentState:
    newest_epoch: int = 0
    workloads: dict[str, WorkloadRecord] = field(default_factory=dict)
    # Allocations whose workloads ended, with when (Unix seconds, oldest first): a start command for one
    # of them (redelivered, or re-sent after JetStream's dedupe window) is not run a second time.
    finished: dict[str, float] = field(default_factory=dict)

    def observe_epoch(self, epoch: int) -> None:
        self.newest_epoch = max(self.newest_epoch, epoch)

    def finish(self, allocation_id: str, at: float) -> None:
        self.workloads.pop(allocation_id, None)
        self.finished.setdefault(allocation_id, at)

    def forget_finished_before(self, cutoff: float) -> None:
        """Drops what ended before `cutoff`; oldest first, so the cost is what is dropped."""
        while self.finished:
            oldest, at = next(iter(self.finished.items()))
            if at >= cutoff:
                return
            del self.finished[oldest]

    def held_milli(self) -> dict[str, int]:
        """Per GPU, the thousandths its workloads hold: every workload here, launching, running,
        waiting to restart or stopping, keeps its GPUs until its exit is reported."""
        held: dict[str, int] = {}
        for record in self.workloads.values():
            for uuid in record.gpu_uuids:
                held[uuid] = held.get(uuid, 0) + record.gpu_milli
        return held

    def running(self) -> list[RunningWorkload]:
        return [record.as_running() for record in self.workloads.values() if record.has_process]

    def running_on(self, gpu_uuid: str) -> list[str]:
        """The allocations whose processes run on the GPU."""
        return [
            record.allocation_id
            for record in self.workloads.values()
            if record.has_process and gpu_uuid in record.gpu_uuids
        ]

    def busy_gpus(self) -> frozenset[str]:
        return frozenset(
            uuid for record in self.workloads.values() if record.has_process for uuid in record.gpu_uuids
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "newest_epoch": self.newest_epoch,
            "workloads": [record.to_dict() for record in self.workloads.values()],
            "finished": dict(self.finished),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], now: float) -> AgentState:
        version = data.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"state file version {version!r} is not {STATE_VERSION}")
        records = [WorkloadRecord.from_dict(item) for item in data.get("workloads", [])]
        return cls(
            newest_epoch=int(data.get("newest_epoch", 0)),
            workloads={record.allocation_id: record for record in records},
            finished=_finished_from(data.get("finished", {}), now),
        )


def _finished_from(data: dict[str, float] | list[str], now: float) -> dict[str, float]:
    # A list is the older form, without times: remembered from now on.
    if isinstance(data, list):
        return dict.fromkeys(data, now)
    return {allocation_id: float(at) for allocation_id, at in data.items()}

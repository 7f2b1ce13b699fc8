"""Test data for the agent's unit tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.agent.domain.state import Phase, WorkloadRecord
from shared.events.jobs import JobKind
from shared.events.scheduler import StartWorkload, StopWorkload

NODE = "n1"
GPUS = ("GPU-sim-n1-0", "GPU-sim-n1-1")


def start_command(allocation_id: str = "a1", epoch: int = 3, **overrides: Any) -> StartWorkload:
    fields: dict[str, Any] = {
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "node_id": NODE,
        "epoch": epoch,
        "tenant_id": "t1",
        "project_id": "p1",
        "job_id": f"job-{allocation_id}",
        "allocation_id": allocation_id,
        "replica": 0,
        "kind": JobKind.TRAINING,
        "command": ["python", "train.py"],
        "env": {"LR": "0.1"},
        "gpu_uuids": [GPUS[0]],
    }
    return StartWorkload(**(fields | overrides))


def stop_command(allocation_id: str = "a1", epoch: int = 3, **overrides: Any) -> StopWorkload:
    fields: dict[str, Any] = {
        "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
        "node_id": NODE,
        "epoch": epoch,
        "job_id": f"job-{allocation_id}",
        "allocation_id": allocation_id,
        "reason": "cancelled",
        "grace_s": 2.0,
    }
    return StopWorkload(**(fields | overrides))


def record(allocation_id: str = "a1", **overrides: Any) -> WorkloadRecord:
    fields: dict[str, Any] = {
        "job_id": f"job-{allocation_id}",
        "allocation_id": allocation_id,
        "replica": 0,
        "kind": "training",
        "command": ["python", "train.py"],
        "env": {"TOKEN": "s3cret"},
        "gpu_uuids": [GPUS[0]],
        "epoch": 3,
        "exit_file": f"/state/run/{allocation_id}.exit",
        "log_file": f"/state/logs/job-{allocation_id}-0.log",
        "tenant_id": "t1",
        "pid": 4242,
        "phase": Phase.RUNNING,
        "launches": 1,
    }
    return WorkloadRecord(**(fields | overrides))

"""The scheduling snapshot and the decisions the policy returns: immutable values, no I/O.

A cycle loads a Snapshot, hands it to the policy, and applies the Decisions it gets back. The same
values drive the trace simulator, so nothing here may depend on where they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.events.jobs import JobSpec

# (project_id, gpu_model)
QuotaKey = tuple[str, str]


@dataclass(frozen=True)
class PendingJob:
    job_id: str
    tenant_id: str
    project_id: str
    spec: JobSpec
    submitted_at: datetime
    # The job's current version and pending reason, so the applier writes only real changes.
    version: int
    reason: str


@dataclass(frozen=True)
class Gpu:
    uuid: str
    model: str
    free: bool
    healthy: bool = True

    @property
    def usable(self) -> bool:
        return self.free and self.healthy


@dataclass(frozen=True)
class Node:
    """A ready node; its GPUs in device-index order."""

    node_id: str
    gpus: tuple[Gpu, ...]


@dataclass(frozen=True)
class Snapshot:
    # Oldest first (submit time, then job id).
    pending: tuple[PendingJob, ...]
    nodes: tuple[Node, ...]
    # Max GPUs of a model a project may have bound at once. A (project, model) with no entry is unlimited.
    quotas: Mapping[QuotaKey, int]
    # GPUs of a model a project has bound now (allocations not yet released, stopping ones included).
    usage: Mapping[QuotaKey, int]


@dataclass(frozen=True)
class ReplicaPlacement:
    replica: int
    node_id: str
    gpu_uuids: tuple[str, ...]


@dataclass(frozen=True)
class Placement:
    """A whole job placed: every replica on one node, all on the same GPU model."""

    job: PendingJob
    gpu_model: str
    replicas: tuple[ReplicaPlacement, ...]


@dataclass(frozen=True)
class Blocked:
    """A job that stays pending, and why."""

    job: PendingJob
    reason: str

    @property
    def reason_changed(self) -> bool:
        return self.reason != self.job.reason


@dataclass(frozen=True)
class Decisions:
    placements: tuple[Placement, ...] = ()
    blocked: tuple[Blocked, ...] = ()

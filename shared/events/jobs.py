"""The job specification a client submits; shared by the gateway, the scheduler and the agents."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from shared.events.base import Contract

MAX_GPUS_PER_REPLICA = 64
MAX_REPLICAS = 1024

# A pool is a set of nodes with its own scheduling policy: a node joins the pool its `pool` label
# names, a job runs in the pool its spec names. Names are short lowercase DNS-label-like words.
DEFAULT_POOL = "default"
POOL_NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$"

# A share of one GPU, time-sliced with other workloads' shares: in (0, 1], in thousandths (the
# scheduler's unit, so a share converts to and from an integer exactly). 1 is the whole GPU, and what
# an event written before shares existed means.
WHOLE_GPU_SHARE = Decimal(1)
GpuShare = Annotated[Decimal, Field(gt=0, le=1, decimal_places=3)]
_MILLI_PER_GPU = 1000


def share_to_milli(share: Decimal) -> int:
    """A validated share in thousandths of a GPU (0.5 -> 500); exact, as a share has 3 decimals at most."""
    return int(share * _MILLI_PER_GPU)


def milli_to_share(milli: int) -> Decimal:
    """Thousandths of a GPU as the share in lowest terms (500 -> 0.5, 1000 -> 1)."""
    return Decimal(milli) / _MILLI_PER_GPU


class JobKind(StrEnum):
    TRAINING = "training"  # runs to completion
    INFERENCE = "inference"  # a service: replicas restart when they exit, until stopped


class RestartPolicy(StrEnum):
    REQUEUE = "requeue"  # after node loss or preemption, go back to the queue
    FAIL = "fail"  # after node loss, the job fails


class JobState(StrEnum):
    PENDING = "pending"
    ADMITTED = "admitted"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PREEMPTED = "preempted"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


class JobSpec(Contract):
    name: str = Field(min_length=1, max_length=200)
    kind: JobKind = JobKind.TRAINING
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    gpus_per_replica: int = Field(default=1, ge=1, le=MAX_GPUS_PER_REPLICA)
    # Acceptable GPU models; empty means any model.
    gpu_models: list[str] = Field(default_factory=list, max_length=32)
    command: list[str] = Field(min_length=1, max_length=256)
    env: dict[str, str] = Field(default_factory=dict)
    restart_policy: RestartPolicy = RestartPolicy.REQUEUE
    max_runtime_s: int | None = Field(default=None, gt=0)
    priority: int = 0
    # The pool whose nodes may run it (1-32 characters of a-z, 0-9 and inner "-").
    pool: str = Field(default=DEFAULT_POOL, pattern=POOL_NAME_PATTERN)
    # The share of one GPU each replica gets (e.g. 0.5: two such replicas share a GPU by time-slicing).
    gpu_fraction: GpuShare = WHOLE_GPU_SHARE

    @field_validator("command")
    @classmethod
    def _command_parts_not_empty(cls, command: list[str]) -> list[str]:
        if not command[0].strip():
            raise ValueError("the program (first element of command) must not be empty")
        return command

    @field_validator("env")
    @classmethod
    def _env_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        if "CUDA_VISIBLE_DEVICES" in env:
            raise ValueError("CUDA_VISIBLE_DEVICES is set by the agent from the bound GPUs")
        return env

    @field_validator("gpu_fraction")
    @classmethod
    def _fraction_of_one_gpu(cls, fraction: Decimal, info: ValidationInfo) -> Decimal:
        gpus = info.data.get("gpus_per_replica", 1)
        if fraction < WHOLE_GPU_SHARE and gpus != 1:
            raise ValueError(f"a fraction of a GPU needs gpus_per_replica = 1, not {gpus}")
        return fraction

    @property
    def gpu_milli(self) -> int:
        """Each replica's share of its GPU in thousandths (1000: whole GPUs)."""
        return share_to_milli(self.gpu_fraction)

    @property
    def total_gpus(self) -> int:
        return self.replicas * self.gpus_per_replica

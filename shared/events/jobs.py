"""The job specification a client submits; shared by the gateway, the scheduler and the agents."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from shared.events.base import Contract
from shared.events.priority_classes import CLASS_NAME_PATTERN

MAX_GPUS_PER_REPLICA = 64
MAX_REPLICAS = 1024
# The longest maximum runtime a job may declare: 366 days. Submissions beyond it are refused (422);
# the scheduler checks it again on what it reads, as rows and events from before the bound may exceed it.
MAX_RUNTIME_S = 366 * 24 * 3600

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


def env_entry_problem(name: str, value: str) -> str | None:
    """Why a process environment cannot hold NAME=VALUE (None: it can). The gateway refuses such a job and
    the agent such a launch: the OS takes a name up to its first '=' and a string up to its first NUL."""
    if not name:
        return "an environment variable name must not be empty"
    if "=" in name or "\0" in name:
        return "an environment variable name must not contain '=' or NUL"
    if "\0" in value:
        return "an environment variable value must not contain NUL"
    try:
        (name + value).encode()
    except UnicodeEncodeError:
        return "an environment variable must be valid Unicode text (no lone surrogates)"
    return None


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
    # Unbounded here so that events and rows from before MAX_RUNTIME_S still read (JobSubmission and
    # the scheduler bound it).
    max_runtime_s: int | None = Field(default=None, gt=0)
    # The operator's priority class the job runs in (shared/events/priority_classes.py); the gateway
    # fills in the default class. `priority` is that class's value as the gateway saw it; events from
    # before classes carry a tenant-chosen integer here, which the scheduler clamps.
    priority_class: str | None = Field(default=None, pattern=CLASS_NAME_PATTERN)
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
        # Each bad entry under its own name (spec.env.<name>), so the 422 says which one.
        problems = [
            InitErrorDetails(type=PydanticCustomError("env_entry", problem), loc=(name,), input=name)
            for name, value in env.items()
            if (problem := env_entry_problem(name, value)) is not None
        ]
        if problems:
            raise ValidationError.from_exception_data("env", problems)
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


def max_runtime_refusal(max_runtime_s: float) -> str | None:
    """Why a maximum runtime (as read back from storage) cannot be used; None when it can."""
    if not 0 < max_runtime_s <= MAX_RUNTIME_S:  # NaN fails this too
        return f"max_runtime_s must be more than 0 and at most {MAX_RUNTIME_S} s, not {max_runtime_s:g}"
    return None


class JobSubmission(JobSpec):
    """A job spec as a client submits it: the contract with the bounds only new submissions must meet."""

    max_runtime_s: int | None = Field(default=None, gt=0, le=MAX_RUNTIME_S)

    @field_validator("priority")
    @classmethod
    def _priority_from_class(cls, priority: int) -> int:
        if priority != 0:
            raise ValueError(
                "priorities come from the operator's priority classes: name one in priority_class"
            )
        return priority

    def to_spec(self, priority_class: str, priority: int) -> JobSpec:
        """The spec the job runs with: this one in the given class, at that class's priority."""
        fields = self.model_dump() | {"priority_class": priority_class, "priority": priority}
        return JobSpec.model_validate(fields)

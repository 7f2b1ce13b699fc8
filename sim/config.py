"""The simulator's settings and the shapes of what it is given (decide, the cluster factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.scheduler.domain.engine.model import Decisions, Node, RunningJob

DecideFn = Callable[..., Decisions]  # decide(snapshot, policy[, cluster=..., running=..., cache=...])
# Builds the engine's cluster state from nodes and running jobs (ClusterState.from_snapshot).
ClusterFactory = Callable[[tuple[Node, ...], tuple[RunningJob, ...]], Any]
ProgressFn = Callable[[int, int, float], None]  # (jobs done, jobs total, simulated now)

DEFAULT_HALF_LIFE_S = 3600.0  # PoolPolicy's default fair-share half-life


@dataclass(frozen=True, slots=True)
class SimConfig:
    restart_penalty_s: float = 30.0  # a preempted or requeued job spends this long restoring
    interval_s: float = 10.0  # scheduling cycles at most this often
    # While jobs wait and nothing changes, a cycle this often anyway (fair-share history decays).
    idle_recheck_s: float = 300.0
    # Running jobs become preemption candidates after this long: a cycle then, if work waits.
    min_runtime_s: float = 0.0
    # Least attained service: a cycle when a running job's GPU-seconds pass one of these, if work waits.
    las_thresholds_gpu_s: tuple[float, ...] = ()
    checkpoint_interval_s: float = 600.0  # seconds of progress between checkpoints
    # Show running jobs' last checkpoint in each snapshot (victim choice); off where nothing preempts.
    checkpoints_in_snapshot: bool = True
    usage_half_life_s: float = DEFAULT_HALF_LIFE_S  # decay of the fair-share history handed to the engine
    max_cycles: int | None = None  # a safety stop for runaway policies
    track_attained_service: bool = True  # least-attained-service policies need it; others may skip it
    # Each tenant's weight among tenants (the policy's fair-share weights; absent means 1), for the
    # entitlement the report compares each tenant's share with.
    tenant_weights: tuple[tuple[str, float], ...] = ()


@dataclass(slots=True)
class Counters:
    cycles: int = 0
    decide_s: float = 0.0
    placements: int = 0
    preemptions: int = 0
    requeues: int = 0
    stops: int = 0
    fails: int = 0
    reservations: int = 0
    ignored: list[str] = field(default_factory=list)

"""The production engine as the simulator runs it: its policies by name, a PoolPolicy for them,
simulation settings that agree with it, and a Simulation wired to the engine."""

from __future__ import annotations

from typing import Any

from services.scheduler.domain.engine import QUEUEING_POLICIES, PoolPolicy, decide
from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES, ClusterState
from sim.config import SimConfig
from sim.simulator import Simulation
from sim.trace import Workload


def placement_policies() -> dict[str, str]:
    """Placement policy name -> what it does."""
    return {name: policy.description for name, policy in PLACEMENT_POLICIES.items()}


def policy_lines() -> list[str]:
    """One line per choice, as `aifactory sim --list-policies` prints them."""
    placement = placement_policies()
    width = max(map(len, [*QUEUEING_POLICIES, *placement]))
    lines = [f"policy {name:<{width}}  {text}" for name, text in QUEUEING_POLICIES.items()]
    lines += [f"placement {name:<{width}}  {text}" for name, text in placement.items()]
    return lines


def make_policy(queueing: str | None, placement: str | None, **settings: Any) -> PoolPolicy:
    """A PoolPolicy for the named policies (the engine's defaults where a name is None)."""
    if queueing is not None and queueing not in QUEUEING_POLICIES:
        raise ValueError(f"unknown policy {queueing!r}; choose one of {', '.join(QUEUEING_POLICIES)}")
    if placement is not None and placement not in PLACEMENT_POLICIES:
        raise ValueError(f"unknown placement {placement!r}; choose one of {', '.join(PLACEMENT_POLICIES)}")
    names: dict[str, Any] = {"queueing": queueing, "placement": placement}
    return PoolPolicy(**{k: v for k, v in names.items() if v is not None}, **settings)


def sim_config_for(policy: PoolPolicy, **settings: Any) -> SimConfig:
    """Simulation settings that agree with the policy: its fair-share half-life, the instants when
    time alone changes its choices (minimum runtime, LAS thresholds), checkpoints only where it
    preempts and attained service only for least-attained-service queueing (each costs work per
    cycle)."""
    las = policy.queueing == "las"
    return SimConfig(
        usage_half_life_s=policy.fair_share_half_life_s,
        track_attained_service=las,
        checkpoints_in_snapshot=policy.preemption,
        min_runtime_s=policy.min_runtime_s if policy.preemption else 0.0,
        las_thresholds_gpu_s=policy.las_thresholds_gpu_s if las else (),
        tenant_weights=tuple(policy.tenant_weights),
        **settings,
    )


def engine_simulation(
    workload: Workload, policy: PoolPolicy, config: SimConfig | None = None, **options: Any
) -> Simulation:
    """A Simulation of the production engine, keeping its cluster state between cycles (see
    engine_view); `config` defaults to the one that agrees with the policy."""
    return Simulation(
        workload,
        decide,
        policy,
        config if config is not None else sim_config_for(policy),
        cluster_factory=ClusterState.from_snapshot,
        **options,
    )

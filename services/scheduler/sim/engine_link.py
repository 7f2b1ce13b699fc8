"""Where the simulator finds the production engine: decide, PoolPolicy and the policy registries.

Imported lazily so the simulator, its tests and its errors work even where a part is missing; the
message then says which part.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from services.scheduler.sim.config import DEFAULT_HALF_LIFE_S, ClusterFactory, DecideFn, SimConfig


class EngineUnavailable(RuntimeError):
    """The policy engine (or a registry of it) cannot be imported."""


@dataclass(frozen=True, slots=True)
class Engine:
    decide: DecideFn
    cluster_factory: ClusterFactory  # ClusterState.from_snapshot: the simulator keeps one between cycles
    pool_policy: type
    queueing: dict[str, str]  # name -> description
    placement: dict[str, str]


def _attribute(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise EngineUnavailable(f"the policy engine has no {module}.{name} yet ({error})") from None


def load_engine() -> Engine:
    root = "services.scheduler.domain.engine"
    placements = _attribute(f"{root}.placement", "PLACEMENT_POLICIES")
    return Engine(
        decide=_attribute(root, "decide"),
        cluster_factory=_attribute(f"{root}.placement", "ClusterState").from_snapshot,
        pool_policy=_attribute(root, "PoolPolicy"),
        queueing=dict(_attribute(f"{root}.queueing", "QUEUEING_POLICIES")),
        placement={name: policy.description for name, policy in placements.items()},
    )


def policy_lines(engine: Engine) -> list[str]:
    """One line per choice, as `aifactory sim --list-policies` prints them."""
    width = max(map(len, [*engine.queueing, *engine.placement]))
    lines = [f"policy {name:<{width}}  {text}" for name, text in engine.queueing.items()]
    lines += [f"placement {name:<{width}}  {text}" for name, text in engine.placement.items()]
    return lines


def make_policy(engine: Engine, queueing: str | None, placement: str | None, **settings: Any) -> Any:
    """A PoolPolicy for the named policies (the engine's defaults where a name is None)."""
    if queueing is not None and queueing not in engine.queueing:
        raise ValueError(f"unknown policy {queueing!r}; choose one of {', '.join(engine.queueing)}")
    if placement is not None and placement not in engine.placement:
        raise ValueError(f"unknown placement {placement!r}; choose one of {', '.join(engine.placement)}")
    names = {"queueing": queueing, "placement": placement}
    return engine.pool_policy(**{k: v for k, v in names.items() if v is not None}, **settings)


def sim_config_for(policy: Any, **settings: Any) -> SimConfig:
    """Simulation settings that agree with the policy: its fair-share half-life, the instants when
    time alone changes its choices (minimum runtime, LAS thresholds), checkpoints only where it
    preempts and attained service only for least-attained-service queueing (each costs work per
    cycle)."""
    las = getattr(policy, "queueing", "las") == "las"
    preemption = getattr(policy, "preemption", True)
    return SimConfig(
        usage_half_life_s=getattr(policy, "fair_share_half_life_s", DEFAULT_HALF_LIFE_S),
        track_attained_service=las,
        checkpoints_in_snapshot=preemption,
        min_runtime_s=getattr(policy, "min_runtime_s", 0.0) if preemption else 0.0,
        las_thresholds_gpu_s=getattr(policy, "las_thresholds_gpu_s", ()) if las else (),
        tenant_weights=tuple(getattr(policy, "tenant_weights", ())),
        **settings,
    )

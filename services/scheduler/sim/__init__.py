"""The trace simulator: replays a job trace through the production policy engine on a simulated clock.

    workload = load_workload(Path("trace.csv"), nodes=16, gpus_per_node=8)   # or generate(TraceSpec(...))
    engine = load_engine()
    policy = make_policy(engine, "priority", "best_fit")
    result = Simulation(workload, engine.decide, policy, sim_config_for(policy),
                        cluster_factory=engine.cluster_factory).run()
    result.summary  # jobs, avg/p50/p95/p99 JCT, queueing, makespan, utilization, allocation, per tenant

The command line is `aifactory sim` (services/cli/sim_command.py).
"""

from services.scheduler.sim.config import SimConfig
from services.scheduler.sim.engine_link import (
    Engine,
    EngineUnavailable,
    load_engine,
    make_policy,
    sim_config_for,
)
from services.scheduler.sim.generator import TraceSpec, generate, write_csv
from services.scheduler.sim.loading import load_workload
from services.scheduler.sim.metrics import SimResult, TimeSeries
from services.scheduler.sim.simulator import Simulation, SimulationError
from services.scheduler.sim.trace import NodeEvent, TraceError, Workload, default_queues, uniform_nodes

__all__ = [
    "Engine",
    "EngineUnavailable",
    "NodeEvent",
    "SimConfig",
    "SimResult",
    "Simulation",
    "SimulationError",
    "TimeSeries",
    "TraceError",
    "TraceSpec",
    "Workload",
    "default_queues",
    "generate",
    "load_engine",
    "load_workload",
    "make_policy",
    "sim_config_for",
    "uniform_nodes",
    "write_csv",
]

"""The trace simulator: replays a job trace through the production policy engine on a simulated clock.

    workload = load_workload(Path("trace.csv"), nodes=16, gpus_per_node=8)   # or generate(TraceSpec(...))
    policy = make_policy("priority", "best_fit")
    result = engine_simulation(workload, policy).run()
    result.summary  # jobs, avg/p50/p95/p99 JCT, queueing, makespan, utilization, allocation, per tenant

Offline tooling beside the services: it imports the scheduler's engine, and nothing in services/
imports it (the CLI's `aifactory sim` command, services/cli/sim_command.py, loads it when run).
Also here: the trace readers (traces/) and the FGD paper's placement experiment
(placement_experiment.py). Plotting needs the optional extra: pip install 'aifactory[plot]'.
"""

from sim.config import SimConfig
from sim.generator import TraceSpec, generate, write_csv
from sim.loading import load_workload
from sim.metrics import SimResult, TimeSeries
from sim.policies import engine_simulation, make_policy, sim_config_for
from sim.simulator import Simulation, SimulationError
from sim.trace import NodeEvent, TraceError, Workload, default_queues, uniform_nodes

__all__ = [
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
    "engine_simulation",
    "generate",
    "load_workload",
    "make_policy",
    "sim_config_for",
    "uniform_nodes",
    "write_csv",
]

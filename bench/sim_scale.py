"""Simulator scale: a 100,000-job synthetic trace replayed on 10,000 GPUs (1,250 nodes of 8).

The trace comes from the simulator's seeded generator (mixed shapes, heavy-tailed durations, arrivals
offering --load of the fleet); the replay runs the production decide() with the chosen policies.
Reports wall seconds (generation excluded, shown apart) and the process's peak RSS against the
targets: under 60 s and under 1 GiB; CPU seconds too (wall on a shared machine counts other work).
The simulator keeps the engine's state between cycles and calms the garbage collector (sim/heap.py).
Prints a table, then one JSON line.

    .venv/bin/python bench/sim_scale.py [--jobs 100000] [--policy priority] [--placement best_fit]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from rich.console import Console
from rich.table import Table

from sim.generator import TraceSpec, generate
from sim.policies import engine_simulation, make_policy, sim_config_for
from sim.trace import Workload, default_queues, uniform_nodes

TARGETS = {"wall_s": 60.0, "peak_rss_mib": 1024.0}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--load", type=float, default=0.9, help="offered GPU load of the trace")
    parser.add_argument("--policy", default=None)
    parser.add_argument("--placement", default=None)
    parser.add_argument("--interval", type=float, default=10.0, help="scheduling interval (simulated s)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    policy = make_policy(args.policy, args.placement)
    nodes = uniform_nodes(args.nodes, args.gpus_per_node)
    started = time.perf_counter()
    jobs = generate(
        TraceSpec(jobs=args.jobs, cluster_gpus=args.nodes * args.gpus_per_node, load=args.load), args.seed
    )
    generated = time.perf_counter()
    workload = Workload(jobs, nodes, default_queues(jobs))
    sim = engine_simulation(
        workload,
        policy,
        sim_config_for(policy, interval_s=args.interval),
        timer=time.process_time,  # decide()'s CPU time, so the simulator's own share shows
    )
    cpu_started = time.process_time()
    summary = sim.run().summary
    wall = time.perf_counter() - generated
    cpu = time.process_time() - cpu_started
    rss = peak_rss_mib()

    table = Table(
        title=f"sim scale: {args.jobs:,} jobs on {len(nodes) * args.gpus_per_node:,} GPUs "
        f"({policy.queueing} / {policy.placement})"
    )
    for column in ("measure", "value", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row("replay wall", f"{wall:.1f} s", f"< {TARGETS['wall_s']:.0f} s")
    table.add_row("replay CPU (= wall on an idle machine)", f"{cpu:.1f} s", f"< {TARGETS['wall_s']:.0f} s")
    table.add_row("  of which in decide() (CPU)", f"{summary.get('decide_s', 0.0):.1f} s", "")
    table.add_row("peak RSS", f"{rss:,.0f} MiB", f"< {TARGETS['peak_rss_mib']:,.0f} MiB")
    table.add_row("trace generation (not in wall)", f"{generated - started:.1f} s", "")
    table.add_row("scheduling cycles", f"{summary['cycles']:,}", "")
    table.add_row("simulated makespan", f"{summary['makespan_s'] / 3600:,.1f} h", "")
    table.add_row("GPU allocation ratio", f"{summary['allocation_ratio']:.1%}", "")
    table.add_row(
        "jobs finished / unfinished", f"{args.jobs - summary['unfinished']:,} / {summary['unfinished']:,}", ""
    )
    Console(width=120).print(table)
    figures = {
        # The machine may be shared: its load average (1 min) when the run ended.
        "load_avg_1m": os.getloadavg()[0],
        "jobs": args.jobs,
        "gpus": len(nodes) * args.gpus_per_node,
        "policy": policy.queueing,
        "placement": policy.placement,
        "wall_s": wall,
        "cpu_s": cpu,
        "decide_cpu_s": summary.get("decide_s", 0.0),
        "generate_s": generated - started,
        "peak_rss_mib": rss,
        "cycles": summary["cycles"],
        "makespan_s": summary["makespan_s"],
        "allocation_ratio": summary["allocation_ratio"],
        "avg_jct_s": summary["avg_jct_s"],
        "targets": TARGETS,
        "meets_targets": wall < TARGETS["wall_s"] and rss < TARGETS["peak_rss_mib"],
        "meets_targets_cpu": cpu < TARGETS["wall_s"] and rss < TARGETS["peak_rss_mib"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

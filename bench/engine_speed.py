"""Policy engine speed: placements per second into an empty fleet, and cycle time in steady state.

A fleet of 10,000 GPUs (1,250 nodes of 8) and 50,000 pending jobs of mixed shapes (the simulator's
synthetic generator: fractional shares, 1/2/4/8-GPU jobs, 2x8 and 4x8 gangs, three priorities).
  1. fill (3 rounds from an empty fleet): decide() is called on the whole queue, its placements bound,
     until a call places nothing (the fleet is full) -> placements per second of decide() time;
  2. steady state: 5,000 jobs pending; every cycle 1% of the running jobs depart and new jobs arrive
     to keep 5,000 pending -> decide() time per cycle, p50 / p99.
Snapshots are built outside the timed call (the figures are the engine's); their cost is printed too.
decide() keeps what it reuses between cycles in one EngineCache, as the live scheduler keeps one per pool.
The garbage collector is set as the simulator sets it (sim/heap.py; --default-gc to leave it as is).
Prints a table, then one JSON line with the figures, the targets and the published references.

    .venv/bin/python bench/engine_speed.py [--policy priority] [--placement best_fit] [--cycles 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from contextlib import nullcontext
from dataclasses import replace

from rich.console import Console
from rich.table import Table

from services.scheduler.domain.engine import EngineCache, PoolPolicy, decide
from services.scheduler.domain.engine.model import (
    JobRequest,
    Place,
    Preempt,
    RunningJob,
    Snapshot,
    Stop,
)
from sim.cluster import SimCluster
from sim.generator import TraceSpec, generate
from sim.heap import calm_collector
from sim.policies import make_policy
from sim.trace import default_queues, uniform_nodes

TARGETS = {"placements_per_s": 2000, "cycle_p99_ms_at_5000_pending": 100}
REFERENCES = {
    "kube_scheduler_pods_per_s_floor_5000_nodes": 810,  # scheduler_perf's test threshold
    "slurm_documented_jobs_per_s": 500,  # Slurm high-throughput computing guide
}


class Fleet:
    """Pending and running jobs over a SimCluster, with decisions applied the simulator's way."""

    def __init__(self, nodes: int, gpus_per_node: int) -> None:
        self.nodes = uniform_nodes(nodes, gpus_per_node)
        self.cluster = SimCluster(self.nodes)
        self.pending: dict[str, JobRequest] = {}
        self.running: dict[str, RunningJob] = {}
        self.now = 0.0

    def snapshot(self, queues: tuple) -> Snapshot:
        return Snapshot(
            now=self.now,
            nodes=self.cluster.snapshot_nodes(),
            queues=queues,
            pending=tuple(self.pending.values()),
            running=tuple(self.running.values()),
        )

    def apply(self, decisions) -> int:
        for d in decisions.items:
            if isinstance(d, Stop | Preempt) and d.job_id in self.running:
                job = self.running.pop(d.job_id)
                self.cluster.release(d.job_id, job.request, job.placements)
                if isinstance(d, Preempt):
                    self.pending[d.job_id] = job.request
        placed = 0
        for d in decisions.items:
            if isinstance(d, Place):
                request = self.pending.pop(d.job_id)
                self.cluster.bind(d.job_id, request, d.placements)
                self.running[d.job_id] = RunningJob(
                    request, d.flavor, d.placements, self.now, None, d.borrowing
                )
                placed += 1
        return placed

    def depart(self, rng: random.Random, share: float) -> None:
        for job_id in rng.sample(sorted(self.running), int(len(self.running) * share)):
            job = self.running.pop(job_id)
            self.cluster.release(job_id, job.request, job.placements)


def fill(fleet: Fleet, cache: EngineCache, policy: PoolPolicy, queues, rounds: int) -> dict:
    """`rounds` times: empty the fleet, then call decide() until a call places nothing. The rate counts
    the calls that placed; the last call of a round (the fleet full, the queue still long) apart."""
    placing_s = placing_cpu_s = full_s = 0.0
    placed = cycles = 0
    for _ in range(rounds):
        fleet.depart(random.Random(0), 1.0)
        while fleet.pending:
            snapshot = fleet.snapshot(queues)
            started, started_cpu = time.perf_counter(), time.process_time()
            decisions = decide(snapshot, policy, cache=cache)
            elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - started_cpu
            cycles += 1
            made = fleet.apply(decisions)
            fleet.now += 1.0
            if made == 0:
                full_s += elapsed_cpu
                break
            placed += made
            placing_s += elapsed
            placing_cpu_s += elapsed_cpu
    return {
        "rounds": rounds,
        "placements": placed,
        "cycles": cycles,
        "decide_s": placing_s,
        "decide_cpu_s": placing_cpu_s,
        "placements_per_s": placed / placing_s if placing_s else 0.0,
        "placements_per_cpu_s": placed / placing_cpu_s if placing_cpu_s else 0.0,
        "full_fleet_cycle_cpu_ms": 1000 * full_s / rounds,
        "allocated": fleet.cluster.allocated_milli / fleet.cluster.capacity_milli,
    }


def steady(
    fleet: Fleet,
    cache: EngineCache,
    policy: PoolPolicy,
    queues,
    reserve: list[JobRequest],
    pending: int,
    cycles: int,
) -> dict:
    rng = random.Random(7)
    for job_id in list(fleet.pending)[pending:]:  # keep the oldest `pending`
        reserve.append(fleet.pending.pop(job_id))
    cycle_ms, cycle_cpu_ms, snapshot_ms, placed = [], [], [], 0
    for _ in range(cycles):
        fleet.now += 10.0
        fleet.depart(rng, 0.01)
        while len(fleet.pending) < pending and reserve:
            job = reserve.pop()
            fleet.pending[job.job_id] = replace(job, submitted_at=fleet.now)
        started = time.perf_counter()
        snapshot = fleet.snapshot(queues)
        built, built_cpu = time.perf_counter(), time.process_time()
        decisions = decide(snapshot, policy, cache=cache)
        done, done_cpu = time.perf_counter(), time.process_time()
        snapshot_ms.append((built - started) * 1000)
        cycle_ms.append((done - built) * 1000)
        cycle_cpu_ms.append((done_cpu - built_cpu) * 1000)
        placed += fleet.apply(decisions)
    cycle_ms.sort()
    cycle_cpu_ms.sort()
    return {
        "cycles": cycles,
        "placements": placed,
        "cycle_p50_ms": statistics.median(cycle_ms),
        "cycle_p99_ms": cycle_ms[min(len(cycle_ms) - 1, int(len(cycle_ms) * 0.99))],
        "cycle_max_ms": cycle_ms[-1],
        "cycle_cpu_p50_ms": statistics.median(cycle_cpu_ms),
        "cycle_cpu_p99_ms": cycle_cpu_ms[min(len(cycle_cpu_ms) - 1, int(len(cycle_cpu_ms) * 0.99))],
        "snapshot_p50_ms": statistics.median(snapshot_ms),
        "allocated": fleet.cluster.allocated_milli / fleet.cluster.capacity_milli,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--pending", type=int, default=50_000)
    parser.add_argument("--steady-pending", type=int, default=5_000)
    parser.add_argument("--cycles", type=int, default=200, help="steady-state cycles")
    parser.add_argument("--fill-rounds", type=int, default=3, help="times the empty fleet is filled")
    parser.add_argument("--policy", default=None, help="queueing policy (engine default if omitted)")
    parser.add_argument("--placement", default=None, help="placement policy (engine default if omitted)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--default-gc", action="store_true", help="leave the garbage collector as it is")
    args = parser.parse_args()

    policy = make_policy(args.policy, args.placement)
    cache = EngineCache()
    fleet = Fleet(args.nodes, args.gpus_per_node)
    jobs = generate(TraceSpec(jobs=args.pending * 2, cluster_gpus=fleet.cluster.gpu_count), args.seed)
    queues = default_queues(jobs)
    fleet.pending = {job.request.job_id: job.request for job in jobs[: args.pending]}
    fleet.now = jobs[args.pending - 1].request.submitted_at + 1.0
    reserve = [job.request for job in reversed(jobs[args.pending :])]

    # As in the simulator (and as a long-lived scheduler should): the jobs built so far are frozen
    # and the collector waits until cycles' garbage piles up, instead of pausing cycles.
    with nullcontext() if args.default_gc else calm_collector():
        filled = fill(fleet, cache, policy, queues, args.fill_rounds)
        stable = steady(fleet, cache, policy, queues, reserve, args.steady_pending, args.cycles)

    table = Table(
        title=f"engine speed: {fleet.cluster.gpu_count:,} GPUs, {args.pending:,} pending "
        f"({policy.queueing} / {policy.placement})",
        caption="wall: elapsed time; CPU: this process's CPU time (equal on an idle machine)",
    )
    for column in ("measure", "wall", "CPU", "target / reference"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    table.add_row(
        "placements/s (fill)",
        f"{filled['placements_per_s']:,.0f}",
        f"{filled['placements_per_cpu_s']:,.0f}",
        f">= {TARGETS['placements_per_s']:,}",
    )
    kube, slurm = REFERENCES.values()
    table.add_row("  kube-scheduler test floor, 5,000 nodes", "", "", f"{kube} pods/s")
    table.add_row("  Slurm, documented", "", "", f"{slurm} jobs/s")
    table.add_row(
        f"placed while filling ({filled['rounds']} rounds)",
        f"{filled['placements']:,} in {filled['cycles']} cycles",
        "",
        "",
    )
    table.add_row("last call of a round (fleet full)", "", f"{filled['full_fleet_cycle_cpu_ms']:.0f} ms", "")
    table.add_row("fleet allocated after fill", f"{filled['allocated']:.1%}", "", "")
    pending = f"{args.steady_pending:,} pending"
    table.add_row(
        f"cycle p50 ({pending})",
        f"{stable['cycle_p50_ms']:.1f} ms",
        f"{stable['cycle_cpu_p50_ms']:.1f} ms",
        "",
    )
    table.add_row(
        f"cycle p99 ({pending})",
        f"{stable['cycle_p99_ms']:.1f} ms",
        f"{stable['cycle_cpu_p99_ms']:.1f} ms",
        f"< {TARGETS['cycle_p99_ms_at_5000_pending']} ms",
    )
    table.add_row("snapshot build p50 (not in the cycle)", f"{stable['snapshot_p50_ms']:.1f} ms", "", "")
    table.add_row(
        "placements in steady state", f"{stable['placements']:,} in {stable['cycles']} cycles", "", ""
    )
    Console(width=120).print(table)
    figures = {
        # The machine may be shared: its load average (1 min) when the run ended.
        "load_avg_1m": os.getloadavg()[0],
        "gpus": fleet.cluster.gpu_count,
        "nodes": args.nodes,
        "pending": args.pending,
        "policy": policy.queueing,
        "placement": policy.placement,
        "gc": "default" if args.default_gc else "calm (sim/heap.py)",
        "fill": filled,
        "steady": stable,
        "targets": TARGETS,
        "references": REFERENCES,
        "meets_targets_wall": filled["placements_per_s"] >= TARGETS["placements_per_s"]
        and stable["cycle_p99_ms"] < TARGETS["cycle_p99_ms_at_5000_pending"],
        "meets_targets_cpu": filled["placements_per_cpu_s"] >= TARGETS["placements_per_s"]
        and stable["cycle_cpu_p99_ms"] < TARGETS["cycle_p99_ms_at_5000_pending"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

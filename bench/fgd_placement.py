"""Placement quality: the FGD paper's placement-only experiment on the Alibaba GPU trace (v2023, "openb").

Reproduces the experiment of Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with
Fragmentation Gradient Descent" (USENIX ATC 2023), as the trace folder's README describes it: all nodes,
tasks shuffled by seed then drawn until 130% of GPU capacity has arrived, no departures, CPU and memory
must fit; metric = allocated / total GPU thousandths. Each of our placement policies runs seeds 42 to 51
(one process per core); the table puts each mean next to the published figure of the policy it
reproduces (best_fit: BestFit; fgd and fgd_exact: FGD), then one JSON line.

    .venv/bin/python bench/fgd_placement.py /work/shared/traces/alibaba-gpu-v2023
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

from services.scheduler.domain.engine.model import JobRequest, Node
from services.scheduler.domain.engine.placement import PLACEMENT_POLICIES
from sim.placement_experiment import (
    DEFAULT_INFLATION,
    DEFAULT_SEEDS,
    PUBLISHED_COUNTERPART,
    PUBLISHED_RATIOS,
    run_placement_experiment,
)
from sim.traces import parse_alibaba_pods, parse_node_list

POD_LIST = "openb_pod_list_default.csv"
NODE_LIST = "openb_node_list_all_node.csv"
TARGETS = {"best_fit_within_1pt_of": PUBLISHED_RATIOS["BestFit"], "best_at_least": 95.5}

_nodes: tuple[Node, ...] = ()
_tasks: list[JobRequest] = []
_inflation = DEFAULT_INFLATION


def _load(folder: Path) -> tuple[tuple[Node, ...], list[JobRequest]]:
    for name in (POD_LIST, NODE_LIST):
        if not (folder / name).is_file():
            raise SystemExit(
                f"{folder / name}: no such file (give the folder of the Alibaba gpu-v2023 trace)"
            )
    with (folder / NODE_LIST).open(newline="") as handle:
        nodes = parse_node_list(handle)
    with (folder / POD_LIST).open(newline="") as handle:
        tasks = [job.request for job in parse_alibaba_pods(handle)]
    return nodes, tasks


def _init(folder: str, inflation: float) -> None:
    global _nodes, _tasks, _inflation
    _nodes, _tasks = _load(Path(folder))
    _inflation = inflation


def _run(work: tuple[str, int]) -> tuple[str, int, float, float]:
    policy, seed = work
    started = time.process_time()
    result = run_placement_experiment(_nodes, _tasks, PLACEMENT_POLICIES[policy], seed, _inflation)
    return policy, seed, 100.0 * result.allocation_ratio, time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "trace", type=Path, help="folder holding openb_pod_list_default.csv and the node list"
    )
    parser.add_argument(
        "--policies", default=",".join(PLACEMENT_POLICIES), help="comma-separated policy names"
    )
    parser.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated seeds")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--inflation", type=float, default=DEFAULT_INFLATION)
    args = parser.parse_args()
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in PLACEMENT_POLICIES]
    if unknown:
        raise SystemExit(f"unknown policies {unknown}; known: {sorted(PLACEMENT_POLICIES)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    _load(args.trace)  # fail early, in the parent, on a wrong folder

    started = time.perf_counter()
    # Slowest policies first, so the pool's last tasks are short ones.
    work = [(p, s) for p in sorted(policies, key=lambda p: "fgd" not in p) for s in seeds]
    ratios: dict[str, dict[int, float]] = {p: {} for p in policies}
    cpu_s = 0.0
    with multiprocessing.get_context("fork").Pool(
        max(1, args.workers), initializer=_init, initargs=(str(args.trace), args.inflation)
    ) as pool:
        for policy, seed, ratio, spent in pool.imap_unordered(_run, work):
            ratios[policy][seed] = ratio
            cpu_s += spent
            print(f"  {policy:<10} seed {seed}: {ratio:6.2f}%  ({spent:.1f} s)", file=sys.stderr, flush=True)
    wall_s = time.perf_counter() - started

    means = {p: statistics.fmean(ratios[p].values()) for p in policies}
    stds = {p: statistics.pstdev(ratios[p].values()) for p in policies}
    print(
        f"\nFGD placement-only experiment, {args.trace.name}, seeds {seeds[0]}..{seeds[-1]}, inflation {args.inflation:.0%}"
    )
    print(f"{'policy':<10} {'mean %':>7} {'std':>5}   {'published':<18} {'delta':>6}")
    for policy in policies:
        counterpart = PUBLISHED_COUNTERPART.get(policy)
        if counterpart:
            published = PUBLISHED_RATIOS[counterpart]
            reference, delta = f"{counterpart} {published:.2f}", f"{means[policy] - published:+.2f}"
        else:
            reference, delta = "-", "-"
        print(f"{policy:<10} {means[policy]:7.2f} {stds[policy]:5.2f}   {reference:<18} {delta:>6}")
    print(
        "published (Weng et al., ATC'23): " + ", ".join(f"{k} {v:.2f}" for k, v in PUBLISHED_RATIOS.items())
    )
    best = max(means, key=lambda p: means[p])
    met = {
        "best_fit_within_1pt": "best_fit" in means
        and abs(means["best_fit"] - TARGETS["best_fit_within_1pt_of"]) <= 1.0,
        "best_at_least": means[best] >= TARGETS["best_at_least"],
    }
    print(
        f"best: {best} {means[best]:.2f}%; targets met: {met}; {wall_s:.0f} s wall, {cpu_s:.0f} s CPU, {args.workers} workers"
    )
    summary = {
        "policies": {p: round(m, 3) for p, m in means.items()},
        "std": {p: round(s, 3) for p, s in stds.items()},
        "published": PUBLISHED_RATIOS,
        "seeds": seeds,
        "targets": TARGETS,
        "targets_met": met,
        "wall_s": round(wall_s, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

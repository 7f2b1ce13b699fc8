"""`aifactory sim`: replay a job trace through the scheduler's policy engine on a simulated cluster.

Register with `app.command("sim")(sim)` in services/cli/main.py. Bad arguments (a missing file, an
unknown policy, a malformed trace, --plot without matplotlib) print one line naming the problem and
exit with code 2.

The simulator is the top-level `sim` package, offline tooling beside the services: it is imported
only when the command runs (the one place in services/ allowed to, see the import-linter contract
"Services never import the simulator").
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from services.scheduler.domain.engine import PoolPolicy
    from sim.config import SimConfig
    from sim.trace import Workload

USAGE_ERROR = 2


class _BadArguments(Exception):
    pass


def sim(
    trace: Annotated[
        Path | None, typer.Argument(help="Job trace: generic CSV, or the Alibaba pod list (or its folder).")
    ] = None,
    nodes: Annotated[int | None, typer.Option(help="Nodes in a uniform simulated cluster.")] = None,
    gpus_per_node: Annotated[int, typer.Option(help="GPUs on each node of the uniform cluster.")] = 8,
    gpu_model: Annotated[str, typer.Option(help="GPU model of the uniform cluster's nodes.")] = "A100",
    node_list: Annotated[
        Path | None, typer.Option(help="Node list CSV (node_id,gpus,gpu_model or the Alibaba node list).")
    ] = None,
    trace_format: Annotated[str, typer.Option("--format", help="csv or alibaba.")] = "csv",
    policy: Annotated[str | None, typer.Option(help="Queueing policy (see --list-policies).")] = None,
    placement: Annotated[str | None, typer.Option(help="Placement policy (see --list-policies).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON summary here.")] = None,
    plot_out: Annotated[
        Path | None, typer.Option("--plot", help="Draw utilization and queue length over time (PNG).")
    ] = None,
    restart_penalty: Annotated[
        float, typer.Option(help="Seconds a preempted job spends restoring before it progresses.")
    ] = 30.0,
    checkpoint_interval: Annotated[
        float, typer.Option(help="Seconds of progress between a checkpointable job's checkpoints.")
    ] = 600.0,
    interval: Annotated[float, typer.Option(help="Scheduling interval in simulated seconds.")] = 10.0,
    max_cycles: Annotated[
        int | None, typer.Option(help="Stop after this many scheduling cycles (a guard against livelock).")
    ] = None,
    node_events: Annotated[
        Path | None, typer.Option(help="Node health events CSV: time,node_id,event[,gpu].")
    ] = None,
    placement_only: Annotated[
        bool, typer.Option("--placement-only", help="The FGD paper's placement experiment.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for --placement-only and --generate.")] = 42,
    generate_jobs: Annotated[
        int | None,
        typer.Option("--generate", help="Write a synthetic trace of this many jobs to TRACE and exit."),
    ] = None,
    list_policies: Annotated[
        bool, typer.Option("--list-policies", help="List the policy and placement choices.")
    ] = False,
) -> None:
    """Replay a job trace through the policy engine on a simulated cluster and report JCT,
    queueing, utilization, preemptions and per-tenant shares."""
    from sim.loading import load_workload
    from sim.policies import make_policy, policy_lines, sim_config_for
    from sim.report import (
        PlottingUnavailable,
        plot,
        require_plotting,
        summary_table,
        tenant_table,
        write_json,
    )
    from sim.trace import TraceError

    console, errors = Console(), Console(stderr=True)
    try:
        if plot_out is not None:
            require_plotting()
        if list_policies:
            for line in policy_lines():
                typer.echo(line)
            return
        if trace is None:
            raise _BadArguments("missing TRACE (a job trace file)")
        if generate_jobs is not None:
            _generate(trace, generate_jobs, nodes, gpus_per_node, seed)
            typer.echo(f"wrote {generate_jobs} jobs to {trace}")
            return
        if placement_only:
            cluster = {
                "nodes": nodes,
                "gpus_per_node": gpus_per_node,
                "gpu_model": gpu_model,
                "node_list": node_list,
            }
            _placement_only(console, json_out, trace, trace_format, placement, seed, **cluster)
            return
        if max_cycles is not None and max_cycles < 1:
            raise _BadArguments(f"--max-cycles must be at least 1 (got {max_cycles})")
        pool_policy = make_policy(policy, placement)
        workload = load_workload(trace, trace_format, nodes, gpus_per_node, gpu_model, node_list, node_events)
        config = sim_config_for(
            pool_policy,
            restart_penalty_s=_non_negative("--restart-penalty", restart_penalty),
            checkpoint_interval_s=_non_negative("--checkpoint-interval", checkpoint_interval),
            interval_s=_non_negative("--interval", interval),
            max_cycles=max_cycles,
        )
    except (_BadArguments, TraceError, PlottingUnavailable, ValueError) as error:
        errors.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(USAGE_ERROR) from None
    summary, series = _simulate(workload, pool_policy, config, errors)
    summary.update(policy=pool_policy.queueing, placement=pool_policy.placement, trace=str(trace))
    console.print(
        summary_table(summary, title=f"{trace.name}: {pool_policy.queueing} / {pool_policy.placement}")
    )
    console.print(tenant_table(summary))
    if json_out is not None:
        write_json(summary, json_out)
    if plot_out is not None:
        plot(series, plot_out, title=f"{trace.name}: {pool_policy.queueing} / {pool_policy.placement}")


def _non_negative(option: str, value: float) -> float:
    if value < 0:
        raise _BadArguments(f"{option} must be >= 0 (got {value})")
    return value


def _simulate(workload: Workload, pool_policy: PoolPolicy, config: SimConfig, errors: Console) -> tuple:
    from sim.policies import engine_simulation

    columns = (
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} jobs"),
    )
    with Progress(*columns, TextColumn("{task.fields[sim]}"), TimeElapsedColumn(), console=errors) as bar:
        task = bar.add_task("sim", total=len(workload.jobs), sim="")

        def progress(done: int, total: int, now: float) -> None:
            bar.update(task, completed=done, sim=f"t={now / 3600:,.1f} h")

        started = time.perf_counter()
        result = engine_simulation(workload, pool_policy, config, progress=progress).run()
        bar.update(task, completed=len(workload.jobs))
    result.summary["wall_s"] = time.perf_counter() - started
    return result.summary, result.series


def _generate(path: Path, jobs: int, nodes: int | None, gpus_per_node: int, seed: int) -> None:
    from sim.generator import TraceSpec, generate, write_csv

    if jobs <= 0:
        raise _BadArguments(f"--generate must be positive (got {jobs})")
    cluster_gpus = (nodes or 8) * gpus_per_node
    # No gang wider than half the fleet: one job should not need the whole (small) cluster.
    spec = TraceSpec(jobs=jobs, cluster_gpus=cluster_gpus, max_replicas_gpus=max(1, cluster_gpus // 2))
    write_csv(generate(spec, seed), path)


def _placement_only(
    console: Console,
    json_out: Path | None,
    trace: Path,
    trace_format: str,
    placement: str | None,
    seed: int,
    **cluster: Any,
) -> None:
    from sim.placement_only import run_placement_only
    from sim.report import summary_table, write_json

    summary = run_placement_only(trace, trace_format, placement=placement, seed=seed, **cluster)
    console.print(summary_table(summary, title=f"placement only: {summary['placement']}, seed {seed}"))
    if json_out is not None:
        write_json(summary, json_out)

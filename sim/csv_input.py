"""Reading the simulator's files: job traces and Alibaba node lists through the trace readers
(sim/traces), plus what only a simulation needs: the generic node list, node health events, and two
optional trace columns, `checkpointable` (true/false) and `checkpoint_interval` (seconds).

Every error names the file and the line (the header is line 1), so a bad trace is fixed in one look.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from services.scheduler.domain.engine.model import Node
from sim.trace import NODE_EVENT_KINDS, NodeEvent, TraceError
from sim.traces import (
    TraceFormatError,
    TraceJob,
    parse_alibaba_pods,
    parse_generic_jobs,
    parse_node_list,
)
from sim.traces.rows import Row, read_rows

T = TypeVar("T")

SIM_COLUMNS = ("checkpointable", "checkpoint_interval")
ALIBABA_POD_LIST = "openb_pod_list_default.csv"
ALIBABA_NODE_LIST = "openb_node_list_all_node.csv"
_TRUE, _FALSE = ("1", "true", "yes", "y"), ("0", "false", "no", "n")


def _parse(path: Path, parse: Callable[[Iterable[str]], T]) -> T:
    """Run a line parser over a file, naming the file in every error."""
    if not path.is_file():
        raise TraceError(f"{path}: no such file")
    try:
        with path.open(newline="") as handle:
            return parse(handle)
    except TraceFormatError as error:
        raise TraceError(f"{path} {error}") from None


def read_generic_trace(path: Path) -> tuple[tuple[TraceJob, ...], dict[str, float]]:
    """Jobs in submit order, and the checkpoint interval of each job whose row gives one."""
    return _parse(path, _parse_generic_with_sim_columns)


def _parse_generic_with_sim_columns(lines: Iterable[str]) -> tuple[tuple[TraceJob, ...], dict[str, float]]:
    # The engine's reader refuses columns it does not know: hand it the rows without ours, same lines.
    rows = list(csv.reader(lines))
    header = [name.strip() for name in rows[0]] if rows else []
    ours = [i for i, name in enumerate(header) if name in SIM_COLUMNS]
    if not ours:
        return _with_durations(parse_generic_jobs(_lines(rows))), {}
    stripped = [[v for i, v in enumerate(r) if i not in ours] if len(r) == len(header) else r for r in rows]
    jobs = _with_durations(parse_generic_jobs(_lines(stripped)))
    extras = {
        job.line: Row(job.line, dict(zip(header, rows[job.line - 1], strict=True))) for job in jobs
    }  # the engine's reader keeps a row's line, which is its index here (one line per row)
    intervals: dict[str, float] = {}
    result = []
    for job in jobs:
        row = extras[job.line]
        flag = row.text("checkpointable").lower()
        if flag and flag not in _TRUE + _FALSE:
            raise row.error("checkpointable", f"expected true or false, got {flag!r}")
        interval = row.optional_seconds("checkpoint_interval")
        if interval:
            intervals[job.request.job_id] = interval
        checkpointable = flag not in _FALSE if flag else job.request.checkpointable
        result.append(replace(job, request=replace(job.request, checkpointable=checkpointable)))
    return tuple(result), intervals


def _lines(rows: list[list[str]]) -> list[str]:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().splitlines(keepends=True)


def read_alibaba_pods(path: Path) -> tuple[TraceJob, ...]:
    """The gpu-v2023 pod list (or the folder holding openb_pod_list_default.csv), in submit order."""
    if path.is_dir():
        path = path / ALIBABA_POD_LIST
    return _parse(path, lambda lines: _with_durations(parse_alibaba_pods(lines)))


def _with_durations(jobs: tuple[TraceJob, ...]) -> tuple[TraceJob, ...]:
    if not jobs:
        raise TraceFormatError("the trace has no jobs")
    for job in jobs:
        if job.duration_s is None:
            raise TraceFormatError("the job has no duration (a replay needs to know when it ends)", job.line)
    return tuple(sorted(jobs, key=lambda job: job.request.submitted_at))


def read_node_list(path: Path, default_model: str = "") -> tuple[Node, ...]:
    """The Alibaba node list (`sn,cpu_milli,memory_mib,gpu,model`), or `node_id,gpus,gpu_model` with
    optional cpu_milli, memory_mib, rack, nvlink_domain."""
    if not path.is_file():
        raise TraceError(f"{path}: no such file")
    with path.open(newline="") as handle:
        alibaba = "sn" in [name.strip() for name in next(csv.reader(handle), [])]
    nodes = _parse(path, parse_node_list if alibaba else lambda lines: _generic_nodes(lines, default_model))
    if not nodes:
        raise TraceError(f"{path}: no nodes")
    return nodes


def _generic_nodes(lines: Iterable[str], default_model: str) -> tuple[Node, ...]:
    optional = ("gpu_model", "cpu_milli", "memory_mib", "rack", "nvlink_domain")
    return tuple(
        Node(
            node_id=row.required_text("node_id"),
            gpu_model=row.text("gpu_model", default_model),
            gpu_count=row.integer("gpus"),
            cpu_milli=row.integer("cpu_milli", default=0),
            memory_mib=row.integer("memory_mib", default=0),
            rack=row.text("rack") or None,
            nvlink_domain=row.text("nvlink_domain") or None,
        )
        for row in read_rows(lines, ("node_id", "gpus"), optional)
    )


def alibaba_node_list_beside(pod_list: Path) -> Path:
    """The node list that sits beside a pod list (or inside the trace folder)."""
    folder = pod_list if pod_list.is_dir() else pod_list.parent
    return folder / ALIBABA_NODE_LIST


def read_node_events(path: Path) -> tuple[NodeEvent, ...]:
    """`time,node_id,event[,gpu]` with event one of lost, drain, up, gpu_fail."""
    return _parse(path, _node_events)


def _node_events(lines: Iterable[str]) -> tuple[NodeEvent, ...]:
    events = []
    for row in read_rows(lines, ("time", "node_id", "event"), ("gpu",)):
        kind = row.text("event")
        if kind not in NODE_EVENT_KINDS:
            raise row.error("event", f"must be one of {', '.join(NODE_EVENT_KINDS)}, got {kind!r}")
        gpu = row.integer("gpu", default=-1, minimum=0) if row.text("gpu") else None
        if kind == "gpu_fail" and gpu is None:
            raise row.error("gpu", "gpu_fail needs the GPU index")
        events.append(NodeEvent(row.seconds("time"), row.required_text("node_id"), kind, gpu))
    return tuple(sorted(events, key=lambda e: e.at))

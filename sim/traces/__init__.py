"""Trace readers: pure functions over text lines (open the file in the CLI or benchmark, pass the lines).

    parse_generic_jobs(lines) -> tuple[TraceJob, ...]   job_id,submit_time,gpus,duration[,optional...]
    parse_alibaba_pods(lines) -> tuple[TraceJob, ...]   Alibaba gpu-v2023 pod list
    parse_node_list(lines)    -> tuple[Node, ...]       Alibaba gpu-v2023 node list (+ nvlink_domain, rack)
Errors are TraceFormatError (a ValueError) naming the line and the column.
"""

from sim.traces.alibaba import parse_alibaba_pods, parse_node_list
from sim.traces.generic import parse_generic_jobs
from sim.traces.jobs import TraceJob
from sim.traces.rows import TraceFormatError

__all__ = ["TraceFormatError", "TraceJob", "parse_alibaba_pods", "parse_generic_jobs", "parse_node_list"]

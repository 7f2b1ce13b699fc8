"""Alibaba cluster-trace-gpu-v2023 ("openb"): the pod list and the node list.

Pods: name, cpu_milli, memory_mib, num_gpu, gpu_milli (a share of one GPU in thousandths, for num_gpu == 1),
gpu_spec (acceptable models joined by '|', empty = any), qos, pod_phase, creation_time, deletion_time,
scheduled_time (seconds). Nodes: sn, cpu_milli, memory_mib, gpu, model (empty for CPU-only nodes), and,
beyond the published format, optional nvlink_domain and rack labels (so a node list can carry topology).
Other columns are ignored, as later versions of the trace add some.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, Node
from sim.traces.jobs import TraceJob
from sim.traces.rows import read_rows, unique

POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "creation_time")
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
# QoS classes, highest first: latency-sensitive work outranks best-effort.
QOS_PRIORITY = {"Guaranteed": 3, "LS": 2, "Burstable": 1, "BE": 0}
ALIBABA_TENANT = "alibaba"


def parse_node_list(lines: Iterable[str]) -> tuple[Node, ...]:
    """Nodes from a node list CSV (CPU and memory tracked; every node schedulable and healthy)."""
    nodes: list[Node] = []
    seen: set[str] = set()
    for row in read_rows(lines, NODE_COLUMNS, None):
        node_id = unique(row, "sn", seen)
        gpus = row.integer("gpu")
        model = row.text("model")
        if gpus and not model:
            raise row.error("model", f"is empty but the node has {gpus} GPU(s)")
        nodes.append(
            Node(
                node_id=node_id,
                gpu_model=model,
                gpu_count=gpus,
                cpu_milli=row.integer("cpu_milli"),
                memory_mib=row.integer("memory_mib"),
                nvlink_domain=row.text("nvlink_domain") or None,
                rack=row.text("rack") or None,
            )
        )
    return tuple(nodes)


def parse_alibaba_pods(lines: Iterable[str]) -> tuple[TraceJob, ...]:
    """One single-replica job per pod, tenant "alibaba", project = the QoS class (lower case).

    Multi-GPU pods take whole GPUs; a one-GPU pod takes gpu_milli thousandths of one GPU; CPU-only pods
    (num_gpu 0) get gpus_per_replica 0. Duration: deletion_time minus scheduled_time (creation_time for
    a pod never scheduled); None without a deletion_time.
    """
    jobs: list[TraceJob] = []
    seen: set[str] = set()
    for row in read_rows(lines, POD_COLUMNS, None):
        name = unique(row, "name", seen)
        gpus = row.integer("num_gpu")
        milli = WHOLE_GPU
        if gpus == 1:
            milli = row.integer("gpu_milli", minimum=1, maximum=WHOLE_GPU)
        else:
            row.integer("gpu_milli", default=0, maximum=WHOLE_GPU)  # validated, but whole GPUs are taken
        created = row.seconds("creation_time")
        scheduled = row.optional_seconds("scheduled_time")
        deleted = row.optional_seconds("deletion_time")
        started = scheduled if scheduled is not None else created
        if deleted is not None and deleted < started:
            raise row.error("deletion_time", f"{deleted:g} is before the pod started ({started:g})")
        qos = row.text("qos", "BE")
        request = JobRequest(
            job_id=name,
            tenant_id=ALIBABA_TENANT,
            project_id=qos.lower(),
            submitted_at=created,
            gpus_per_replica=gpus,
            gpu_milli=milli,
            cpu_milli_per_replica=row.integer("cpu_milli"),
            memory_mib_per_replica=row.integer("memory_mib"),
            gpu_models=row.models("gpu_spec"),
            priority=QOS_PRIORITY.get(qos, 0),
        )
        jobs.append(TraceJob(request, deleted - started if deleted is not None else None, row.line))
    return tuple(jobs)

"""Trace readers: the generic CSV, the Alibaba pod and node lists, and errors that name line and column."""

from __future__ import annotations

import pytest

from sim.traces import (
    TraceFormatError,
    parse_alibaba_pods,
    parse_generic_jobs,
    parse_node_list,
)

GENERIC = [
    "job_id,submit_time,gpus,duration,gpu_milli,tenant,project,priority,gpu_model,max_runtime,replicas\n",
    "train,0,8,3600,,acme,vision,5,H100|A100,7200,2\n",
    "notebook,12.5,1,600,250,acme,,,,,\n",
    "\n",
    "etl,30,0,60,,,,-1,,,\n",
]


def test_generic_trace_with_every_optional_column() -> None:
    train, notebook, etl = parse_generic_jobs(GENERIC)
    assert train.request.replicas == 2 and train.request.gpus_per_replica == 8
    assert train.request.gpu_models == ("H100", "A100")
    assert (train.request.tenant_id, train.request.project_id, train.request.priority) == (
        "acme",
        "vision",
        5,
    )
    assert train.request.max_runtime_s == 7200 and train.duration_s == 3600 and train.line == 2
    assert notebook.request.gpu_milli == 250 and notebook.request.submitted_at == 12.5
    assert notebook.request.project_id == "default" and notebook.request.max_runtime_s is None
    assert etl.request.gpus_per_replica == 0 and etl.request.priority == -1 and etl.line == 5


def test_generic_trace_with_only_the_required_columns() -> None:
    (only,) = parse_generic_jobs(["job_id,submit_time,gpus,duration", "a,1,2,3"])
    assert (only.request.job_id, only.request.gpus_per_replica, only.request.gpu_milli) == ("a", 2, 1000)
    assert (only.request.tenant_id, only.request.replicas) == ("default", 1)


@pytest.mark.parametrize(
    ("lines", "line", "column", "fragment"),
    [
        (["job_id,submit_time,gpus"], 1, None, "missing column(s) duration"),
        (["job_id,submit_time,gpus,duration,gpu_mili"], 1, None, "unknown column(s) gpu_mili"),
        (["job_id,submit_time,gpus,duration", "a,0,two,5"], 2, "gpus", "expected a whole number, got 'two'"),
        (["job_id,submit_time,gpus,duration", "a,0,1,5", "b,-3,1,5"], 3, "submit_time", "finite number >= 0"),
        (
            ["job_id,submit_time,gpus,duration", "a,0,1,5", "a,1,1,5"],
            3,
            "job_id",
            "'a' appears on an earlier line",
        ),
        (["job_id,submit_time,gpus,duration", "a,0,1"], 2, None, "expected 4 fields, found 3"),
        (["job_id,submit_time,gpus,duration,gpu_milli", "a,0,2,5,500"], 2, "gpu_milli", "needs gpus = 1"),
        (["job_id,submit_time,gpus,duration,gpu_milli", "a,0,1,5,1500"], 2, "gpu_milli", "at most 1000"),
        (["job_id,submit_time,gpus,duration,replicas", "a,0,1,5,0"], 2, "replicas", "at least 1"),
        (["job_id,submit_time,gpus,duration", "a,0,1,"], 2, "duration", "is empty"),
        ([], 1, None, "the file is empty"),
    ],
)
def test_generic_trace_errors_name_the_line_and_column(lines, line, column, fragment) -> None:
    with pytest.raises(TraceFormatError) as caught:
        parse_generic_jobs(lines)
    assert caught.value.line == line
    assert caught.value.column == column
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"line {line}")


ALIBABA_PODS = [
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n",
    "pod-0,12000,16384,1,460,,LS,Running,0,100,10\n",
    "pod-1,32000,65536,8,1000,V100M32|G3,BE,Succeeded,5,305,\n",
    "pod-2,4000,8192,0,0,,Burstable,Running,7,17,7\n",
]


def test_alibaba_pods_become_single_replica_jobs() -> None:
    share, multi, cpu_only = parse_alibaba_pods(ALIBABA_PODS)
    assert (share.request.gpus_per_replica, share.request.gpu_milli, share.request.cpu_milli_per_replica) == (
        1,
        460,
        12000,
    )
    assert share.request.memory_mib_per_replica == 16384 and share.request.priority == 2
    assert share.duration_s == 90  # deletion - scheduled
    assert (multi.request.gpus_per_replica, multi.request.gpu_models) == (8, ("V100M32", "G3"))
    assert multi.duration_s == 300  # never scheduled: deletion - creation
    assert multi.request.gpu_demand_milli == 8000
    assert cpu_only.request.gpus_per_replica == 0 and cpu_only.request.gpu_demand_milli == 0
    assert cpu_only.request.project_id == "burstable"


def test_alibaba_pod_errors_name_the_line_and_column() -> None:
    bad = [*ALIBABA_PODS[:2], "pod-9,1000,1024,1,0,,LS,Running,0,1,0\n"]
    with pytest.raises(TraceFormatError, match=r"line 3, column 'gpu_milli': must be at least 1"):
        parse_alibaba_pods(bad)
    backwards = [ALIBABA_PODS[0], "pod-9,1000,1024,1,100,,LS,Running,50,20,50\n"]
    with pytest.raises(TraceFormatError, match=r"line 2, column 'deletion_time'"):
        parse_alibaba_pods(backwards)


def test_node_list_with_cpu_only_nodes_and_topology_labels() -> None:
    gpu, cpu = parse_node_list(
        [
            "sn,cpu_milli,memory_mib,gpu,model,nvlink_domain,rack",
            "g1,96000,393216,8,G2,nv0,r0",
            "c1,32000,262144,0,,,r0",
        ]
    )
    assert (gpu.node_id, gpu.gpu_model, gpu.gpu_count, gpu.cpu_milli, gpu.memory_mib) == (
        "g1",
        "G2",
        8,
        96000,
        393216,
    )
    assert (gpu.nvlink_domain, gpu.rack) == ("nv0", "r0")
    assert (cpu.gpu_count, cpu.gpu_model, cpu.nvlink_domain) == (0, "", None)


def test_node_list_errors_name_the_line_and_column() -> None:
    with pytest.raises(TraceFormatError, match=r"line 3, column 'model': is empty but the node has 2 GPU"):
        parse_node_list(["sn,cpu_milli,memory_mib,gpu,model", "a,1,1,0,", "b,1,1,2,"])
    with pytest.raises(TraceFormatError, match=r"line 1: missing column\(s\) gpu, model"):
        parse_node_list(["sn,cpu_milli,memory_mib"])

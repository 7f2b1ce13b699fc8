"""The simulator's files: traces through the engine's readers (plus the simulator's own columns),
node lists, node events; every error names the file and the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sim.csv_input import (
    read_alibaba_pods,
    read_generic_trace,
    read_node_events,
    read_node_list,
)
from sim.loading import load_workload
from sim.trace import TraceError

HEADER = "job_id,submit_time,gpus,duration"


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_generic_trace_is_read_in_submit_order_with_optional_columns(tmp_path):
    path = write(
        tmp_path,
        "job_id,submit_time,gpus,duration,gpu_milli,tenant,project,priority,gpu_model,max_runtime,replicas\n"
        "late,50,8,3600,,acme,vision,2,A100|H100,7200,2\n"
        "early,10,1,60,250,,,,,,\n",
    )
    (early, late), intervals = read_generic_trace(path)
    assert (early.request.job_id, early.request.gpu_milli, early.duration_s) == ("early", 250, 60)
    assert late.request.replicas == 2 and late.request.gpus_per_replica == 8
    assert late.request.gpu_models == ("A100", "H100") and late.request.max_runtime_s == 7200
    assert intervals == {}


def test_simulator_columns_set_checkpointing_per_job(tmp_path):
    path = write(
        tmp_path,
        f"{HEADER},checkpointable,checkpoint_interval\na,0,1,10,false,\nb,1,1,10,,120\nc,2,1,10,yes,\n",
    )
    (a, b, c), intervals = read_generic_trace(path)
    assert (a.request.checkpointable, b.request.checkpointable, c.request.checkpointable) == (
        False,
        True,
        True,
    )
    assert intervals == {"b": 120}
    with pytest.raises(
        TraceError, match=re.escape("line 2, column 'checkpointable': expected true or false")
    ):
        read_generic_trace(write(tmp_path, f"{HEADER},checkpointable\na,0,1,10,maybe\n"))


@pytest.mark.parametrize(
    ("rows", "where"),
    [
        ("a,0,1,10\nb,5,x,10\n", "line 3, column 'gpus'"),
        ("a,0,1,-4\n", "line 2, column 'duration'"),
        ("a,0,1,10\na,1,1,10\n", "line 3, column 'job_id'"),
        ("a,0,1,10,extra\n", "line 2"),
        ("a,,1,10\n", "line 2, column 'submit_time'"),
    ],
)
def test_malformed_rows_name_the_file_and_the_line(tmp_path, rows, where):
    path = write(tmp_path, f"{HEADER}\n{rows}")
    with pytest.raises(TraceError, match=re.escape(f"{path} {where}")):
        read_generic_trace(path)


def test_missing_columns_missing_files_and_empty_traces_are_named(tmp_path):
    with pytest.raises(TraceError, match="line 1: missing column.s. duration"):
        read_generic_trace(write(tmp_path, "job_id,submit_time,gpus\na,0,1\n"))
    with pytest.raises(TraceError, match="absent.csv: no such file"):
        read_generic_trace(tmp_path / "absent.csv")
    with pytest.raises(TraceError, match="no jobs"):
        read_generic_trace(write(tmp_path, f"{HEADER}\n"))


ALIBABA_PODS = (
    "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
    "pod-0,12000,16384,1,460,,LS,Running,100,1100,160\n"
    "pod-1,4000,8192,0,0,,BE,Running,0,500,0\n"
    "pod-2,32000,65536,8,1000,V100M32|G2,BE,Pending,50,950,\n"
)


def test_alibaba_pods_are_read_in_submit_order_with_durations(tmp_path):
    cpu_pod, pending_pod, shared_pod = read_alibaba_pods(write(tmp_path, ALIBABA_PODS, "pods.csv"))
    assert cpu_pod.request.gpus_per_replica == 0
    assert shared_pod.request.gpu_milli == 460 and shared_pod.duration_s == 1100 - 160
    assert pending_pod.request.gpu_models == ("V100M32", "G2")
    assert pending_pod.duration_s == 900  # never scheduled: creation to deletion


def test_alibaba_pod_without_a_deletion_time_is_refused(tmp_path):
    text = ALIBABA_PODS + "pod-3,1000,1024,1,1000,,BE,Running,5,,5\n"
    with pytest.raises(TraceError, match="line 5: the job has no duration"):
        read_alibaba_pods(write(tmp_path, text, "pods.csv"))


def test_alibaba_folder_brings_its_node_list(tmp_path):
    write(tmp_path, ALIBABA_PODS, "openb_pod_list_default.csv")
    write(
        tmp_path, "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,8,G2\n", "openb_node_list_all_node.csv"
    )
    workload = load_workload(tmp_path, "alibaba")
    assert len(workload.jobs) == 3 and [n.gpu_count for n in workload.nodes] == [8]


def test_node_lists_in_both_formats(tmp_path):
    alibaba = write(
        tmp_path, "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,8,G2\nn1,32000,1024,0,\n", "a.csv"
    )
    generic = write(tmp_path, "node_id,gpus,gpu_model,rack\nx,4,H100,r1\ny,2,,\n", "g.csv")
    g2, cpu_only = read_node_list(alibaba)
    assert (g2.node_id, g2.gpu_count, g2.gpu_model, g2.cpu_milli) == ("n0", 8, "G2", 64000)
    assert cpu_only.gpu_count == 0
    x, y = read_node_list(generic, default_model="L4")
    assert (x.gpu_count, x.gpu_model, x.rack, y.gpu_model) == (4, "H100", "r1", "L4")
    with pytest.raises(TraceError, match=re.escape("line 2, column 'gpus'")):
        read_node_list(write(tmp_path, "node_id,gpus\nx,eight\n", "bad.csv"))


def test_node_events_are_sorted_and_checked(tmp_path):
    events = read_node_events(
        write(tmp_path, "time,node_id,event,gpu\n90,n1,lost,\n10,n0,gpu_fail,3\n", "e.csv")
    )
    assert [(e.at, e.kind, e.gpu_index) for e in events] == [(10, "gpu_fail", 3), (90, "lost", None)]
    with pytest.raises(TraceError, match=re.escape("line 2, column 'event': must be one of")):
        read_node_events(write(tmp_path, "time,node_id,event\n1,n0,explode\n", "bad.csv"))


def test_cluster_must_be_given_and_node_events_must_name_known_nodes(tmp_path):
    trace = write(tmp_path, f"{HEADER}\na,0,1,10\n")
    with pytest.raises(TraceError, match="--nodes N --gpus-per-node G, or --node-list"):
        load_workload(trace)
    events = write(tmp_path, "time,node_id,event\n5,ghost,lost\n", "events.csv")
    with pytest.raises(TraceError, match="unknown node 'ghost'"):
        load_workload(trace, nodes=2, gpus_per_node=8, node_events=events)

"""The process runtime with the workload sandbox, on real bubblewrap: who a workload runs as, what it sees,
and that exit codes, signals and adoption after an agent restart work as without the sandbox."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from services.agent.app.ports import EXIT_REJECTED, LaunchFailed
from services.agent.domain.state import WorkloadRecord
from services.agent.runtime.processes import ProcessRuntime
from services.agent.runtime.sandbox import WORKDIR
from services.agent.runtime.sandbox_host import WorkloadSandbox, create_sandbox
from services.agent.settings import AgentSettings

DEADLINE_S = 15.0
AS_ROOT = os.geteuid() == 0
UIDS = range(200000, 300000)


def make_sandbox(state_dir: Path, **settings: object) -> WorkloadSandbox:
    sandbox = create_sandbox(
        AgentSettings(agent_state_dir=state_dir, agent_node_id="n1", **settings), lambda _uuids: ()
    )
    assert sandbox is not None
    return sandbox


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def runtime(state_dir: Path) -> ProcessRuntime:
    sandbox = make_sandbox(state_dir, agent_workload_uid_per="allocation")
    assert sandbox.unavailable() is None, "bubblewrap must work here (.ci/run installs it)"
    env = {"PATH": os.environ["PATH"], "AIFACTORY_ADMIN_KEY": "operator-key", "HOME": "/root"}
    return ProcessRuntime(state_dir, agent_env=env, sandbox=sandbox)


def make_record(runtime: ProcessRuntime, command: list[str], allocation_id: str = "a1") -> WorkloadRecord:
    exit_file, log_file = runtime.files_for(f"job/{allocation_id}", 0, allocation_id)
    return WorkloadRecord(
        job_id=f"job/{allocation_id}", allocation_id=allocation_id, replica=0, kind="training", command=command,
        env={"FROM_JOB": "yes"}, gpu_uuids=["GPU-aaa"], epoch=1, exit_file=exit_file, log_file=log_file,
        tenant_id="t1",
    )  # fmt: skip


def launch(runtime: ProcessRuntime, command: list[str], allocation_id: str = "a1") -> WorkloadRecord:
    record = make_record(runtime, command, allocation_id)
    record.pid = runtime.launch(record)
    return record


def wait_exit(runtime: ProcessRuntime, record: WorkloadRecord) -> int:
    deadline = time.monotonic() + DEADLINE_S
    while (code := runtime.exit_code(record)) is None:
        assert time.monotonic() < deadline, f"the workload did not end: {Path(record.log_file).read_text()}"
        time.sleep(0.02)
    return code


def wait_for_text(path: str, text: str) -> str:
    deadline = time.monotonic() + DEADLINE_S
    while not (Path(path).exists() and text in (content := Path(path).read_text())):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)
    return content


def report(record: WorkloadRecord) -> dict:  # type: ignore[type-arg]
    line = next(line for line in Path(record.log_file).read_text().splitlines() if line.startswith("{"))
    return json.loads(line)  # type: ignore[no-any-return]


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if status and int(status.split("Uid:")[1].split()[0]) == uid:
            found.append(int(entry.name))
    return found


def wait_gone(uid: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while processes_of(uid):
        assert time.monotonic() < deadline, f"processes of UID {uid} survived"
        time.sleep(0.02)


WHO_AM_I = """
import json, os, socket, sys
print(json.dumps({"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
    "env": dict(os.environ), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "root": sorted(os.listdir("/")), "hostname": socket.gethostname(),
    "tmp": os.listdir("/tmp"), "writable_tmp": os.access("/tmp", os.W_OK) and os.access("/dev/shm", os.W_OK),
    "sees_state": os.path.exists(sys.argv[1])}))
"""


def test_a_workload_runs_as_its_own_uid_in_its_own_directory_with_only_its_environment(
    runtime: ProcessRuntime, state_dir: Path
) -> None:
    record = launch(
        runtime, [sys.executable, "-c", WHO_AM_I + "\nimport time; time.sleep(0.5)", str(state_dir)]
    )
    wait_for_text(record.log_file, '"uid"')
    workdir = next((state_dir / "work").glob("*/a1"))
    seen = report(record)

    assert wait_exit(runtime, record) == 0
    if AS_ROOT:
        assert seen["uid"] in UIDS and seen["gid"] == seen["uid"] and seen["groups"] == []
        assert (workdir.stat().st_uid, workdir.stat().st_mode & 0o777) == (seen["uid"], 0o700)
    assert seen["cwd"] == WORKDIR
    env = seen["env"]
    assert env["HOME"] == WORKDIR and env["FROM_JOB"] == "yes" and env["CUDA_VISIBLE_DEVICES"] == "GPU-aaa"
    assert "AIFACTORY_ADMIN_KEY" not in env and "operator-key" not in json.dumps(env)
    assert seen["pids"] == [1, 2]  # bwrap's init and the workload: no other process of the host
    assert not seen["sees_state"]
    # Private: empty, but for the way down to the Python the workload runs when that lives under /tmp
    # (a checkout there, as in CI), bound read-only at its own path.
    python_under_tmp = {
        Path(prefix).resolve().relative_to("/tmp").parts[0]
        for prefix in {sys.prefix, sys.base_prefix}
        if Path(prefix).resolve().is_relative_to("/tmp")
    }
    assert set(seen["tmp"]) <= python_under_tmp and seen["writable_tmp"]
    assert "launching allocation a1 (launch 1) in the sandbox as UID" in Path(record.log_file).read_text()

    runtime.forget(record)
    assert not workdir.exists()  # removed once the workload has ended


def test_exit_codes_follow_the_shell_inside_the_sandbox(runtime: ProcessRuntime, tmp_path: Path) -> None:
    failing = launch(runtime, [sys.executable, "-c", "raise SystemExit(42)"], "a1")
    killed = launch(
        runtime, [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], "a2"
    )
    # On the host, but out of the sandbox's view: not found, as the shell says it.
    hidden = tmp_path / "hidden.sh"
    hidden.write_text("#!/bin/sh\nexit 0\n")
    hidden.chmod(0o755)
    unseen = launch(runtime, [str(hidden)], "a3")

    assert wait_exit(runtime, failing) == 42
    assert wait_exit(runtime, killed) == 128 + 9
    assert wait_exit(runtime, unseen) == 127
    assert "No such file or directory" in Path(unseen.log_file).read_text()


TERM_COUNTER = """
import os, signal, subprocess, sys, time
got = []
signal.signal(signal.SIGTERM, lambda *_: got.append(1))
if sys.argv[1] == "parent":
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], "child", ""])
    print("ready", flush=True)
    while not got: time.sleep(0.01)
    child.wait()
    time.sleep(0.2)
    print("parent got", len(got), flush=True)
    sys.exit(7)
time.sleep(0.1)
while not got: time.sleep(0.01)
time.sleep(0.2)
print("child got", len(got), flush=True)
"""


def test_terminate_reaches_the_workload_and_its_child_once_and_keeps_its_exit_code(
    runtime: ProcessRuntime,
) -> None:
    record = launch(runtime, [sys.executable, "-c", TERM_COUNTER, "parent", TERM_COUNTER])
    wait_for_text(record.log_file, "ready")
    time.sleep(0.3)  # the child has set its handler

    runtime.terminate(record)

    assert wait_exit(runtime, record) == 7  # the workload's own code: bubblewrap did not die of SIGTERM
    log = Path(record.log_file).read_text()
    assert "parent got 1" in log and "child got 1" in log


def test_a_restarted_agent_finds_adopts_and_stops_a_sandboxed_workload(
    runtime: ProcessRuntime, state_dir: Path
) -> None:
    record = launch(
        runtime, [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"]
    )
    wait_for_text(record.log_file, "ready")
    workdir = next((state_dir / "work").glob("*/a1"))
    stranger = ProcessRuntime(state_dir, sandbox=make_sandbox(state_dir, agent_workload_uid_per="allocation"))

    assert stranger.find_launched(record) == record.pid
    assert stranger.exit_code(record) is None
    stranger.terminate(record)

    assert wait_exit(stranger, record) == 128 + 15
    stranger.forget(record)
    assert not workdir.exists()


ESCAPER = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
# A child in a session of its own: out of the wrapper's process group, not out of the sandbox.
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print("ready", flush=True)
time.sleep(60)
"""


@pytest.mark.skipif(not AS_ROOT, reason="needs a UID of the workload's own to find its processes by")
def test_kill_ends_every_process_of_the_sandbox_even_one_that_left_the_process_group(
    runtime: ProcessRuntime,
) -> None:
    record = launch(runtime, [sys.executable, "-c", ESCAPER])
    uid = int(wait_for_text(record.log_file, "ready").split(" as UID ")[1].split()[0])
    assert len(processes_of(uid)) == 2

    runtime.kill(record)

    assert wait_exit(runtime, record) == 128 + signal.SIGKILL
    wait_gone(uid)


@pytest.mark.skipif(not AS_ROOT, reason="needs a UID of the workload's own to find its processes by")
def test_the_sandbox_ends_with_its_wrapper_not_with_the_agent(runtime: ProcessRuntime) -> None:
    record = launch(
        runtime, [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"]
    )
    uid = int(wait_for_text(record.log_file, "ready").split(" as UID ")[1].split()[0])

    os.kill(record.pid, signal.SIGKILL)  # the wrapper alone: nothing may run on unwatched

    wait_gone(uid)


def test_workloads_of_one_tenant_share_its_uid_and_two_tenants_never_do(state_dir: Path) -> None:
    runtime = ProcessRuntime(state_dir, sandbox=make_sandbox(state_dir))  # one UID per tenant: the default
    records = []
    for allocation, tenant in (("a1", "t1"), ("a2", "t1"), ("a3", "t2")):
        record = make_record(
            runtime, [sys.executable, "-c", "import os; print('uid', os.getuid())"], allocation
        )
        record.tenant_id = tenant
        record.pid = runtime.launch(record)
        records.append(record)
    for record in records:
        assert wait_exit(runtime, record) == 0
    uids = [int(Path(r.log_file).read_text().split("\nuid ")[1].split()[0]) for r in records]
    if AS_ROOT:
        assert uids[0] == uids[1] != uids[2]
        assert all(uid in UIDS for uid in uids)
        # A restarted agent reads the tenant's UID back from its directory.
        again = make_record(runtime, ["true"], "a4")
        assert make_sandbox(state_dir).prepare(again).uid == uids[0]


def test_a_node_without_bubblewrap_refuses_every_start_with_the_reason(
    state_dir: Path, tmp_path: Path
) -> None:
    sandbox = make_sandbox(state_dir, agent_sandbox_bwrap=str(tmp_path / "no-bwrap"))
    runtime = ProcessRuntime(state_dir, sandbox=sandbox)
    record = make_record(runtime, [sys.executable, "-c", "pass"])

    with pytest.raises(LaunchFailed) as refused:
        runtime.launch(record)
    assert (refused.value.exit_code, refused.value.refused) == (EXIT_REJECTED, True)
    assert "bubblewrap not found" in refused.value.reason
    assert "AIFACTORY_AGENT_SANDBOX=off" in refused.value.reason

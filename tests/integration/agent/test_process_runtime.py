"""The process runtime and its wrapper with real processes: environment, exit codes, signals, adoption."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from services.agent.app.ports import UNKNOWN_EXIT_CODE, LaunchFailed
from services.agent.domain.state import WorkloadRecord
from services.agent.runtime.processes import ProcessRuntime

DEADLINE_S = 10.0


def make_record(runtime: ProcessRuntime, command: list[str], allocation_id: str = "a1") -> WorkloadRecord:
    exit_file, log_file = runtime.files_for("job/1", 0, allocation_id)
    return WorkloadRecord(
        job_id="job/1",
        allocation_id=allocation_id,
        replica=0,
        kind="training",
        command=command,
        env={"FROM_JOB": "yes"},
        gpu_uuids=["GPU-aaa", "GPU-bbb"],
        epoch=1,
        exit_file=exit_file,
        log_file=log_file,
    )


def wait_exit(runtime: ProcessRuntime, record: WorkloadRecord) -> int:
    deadline = time.monotonic() + DEADLINE_S
    while (code := runtime.exit_code(record)) is None:
        assert time.monotonic() < deadline, "the workload did not end"
        time.sleep(0.02)
    return code


def wait_for_text(path: str, text: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not (Path(path).exists() and text in Path(path).read_text()):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def launch(runtime: ProcessRuntime, record: WorkloadRecord) -> WorkloadRecord:
    record.pid = runtime.launch(record)
    return record


@pytest.fixture
def runtime(tmp_path: Path) -> ProcessRuntime:
    return ProcessRuntime(tmp_path, agent_env={"PATH": os.environ["PATH"], "AIFACTORY_NATS_URL": "nats://x"})


def test_the_workload_gets_its_gpus_ids_and_env_and_its_output_lands_in_the_job_log(
    runtime: ProcessRuntime,
) -> None:
    code = "import os; print(*(os.environ.get(k) for k in ('CUDA_VISIBLE_DEVICES', 'AIFACTORY_JOB_ID', 'FROM_JOB', 'AIFACTORY_NATS_URL')))"
    record = launch(runtime, make_record(runtime, [sys.executable, "-c", code]))

    assert wait_exit(runtime, record) == 0
    assert Path(record.log_file).parent == runtime.logs_dir
    assert Path(record.log_file).name.startswith("job_1-")  # ids are made safe as file names
    assert "GPU-aaa,GPU-bbb job/1 yes None" in Path(record.log_file).read_text()
    assert Path(record.exit_file).read_text().strip() == "0"


def test_the_workload_starts_with_every_signal_at_its_default(runtime: ProcessRuntime) -> None:
    # Ctrl-C style interrupts must reach it: a workload that ignores SIGINT gets no KeyboardInterrupt.
    code = "print('ignored', open('/proc/self/status').read().split('SigIgn:')[1].split()[0])"
    record = launch(runtime, make_record(runtime, [sys.executable, "-c", code]))

    assert wait_exit(runtime, record) == 0
    ignored = int(Path(record.log_file).read_text().split("ignored")[1].split()[0], 16)
    assert ignored & (1 << (signal.SIGINT - 1) | 1 << (signal.SIGQUIT - 1)) == 0


def test_exit_codes_follow_the_shell(runtime: ProcessRuntime) -> None:
    failing = launch(runtime, make_record(runtime, [sys.executable, "-c", "raise SystemExit(42)"], "a1"))
    killed = launch(
        runtime,
        make_record(
            runtime, [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"], "a2"
        ),
    )

    assert wait_exit(runtime, failing) == 42
    assert wait_exit(runtime, killed) == 128 + 9


def test_a_missing_program_fails_before_launch_with_127(runtime: ProcessRuntime) -> None:
    with pytest.raises(LaunchFailed) as failed:
        runtime.launch(make_record(runtime, ["definitely-not-installed-xyz"]))
    assert failed.value.exit_code == 127
    assert "command not found" in failed.value.reason


def test_terminate_reaches_the_workloads_children_exactly_once(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    # A shell (the workload) with a child that records how many SIGTERMs it got.
    count_file = tmp_path / "sigterms"
    child = tmp_path / "child.py"
    child.write_text(
        "import signal, sys, time\n"
        "got = []\n"
        "signal.signal(signal.SIGTERM, lambda *_: got.append(1))\n"
        "print('ready', flush=True)\n"
        "deadline = time.time() + 20\n"
        "while not got and time.time() < deadline: time.sleep(0.01)\n"
        "time.sleep(0.3)\n"
        f"open({str(count_file)!r}, 'w').write(str(len(got)))\n"
    )
    record = launch(runtime, make_record(runtime, ["sh", "-c", f"{sys.executable} {child}; true"]))
    wait_for_text(record.log_file, "ready")

    runtime.terminate(record)

    assert wait_exit(runtime, record) == 128 + 15  # the shell ends by SIGTERM
    wait_for_text(str(count_file), "1")
    assert count_file.read_text() == "1"


def _pgroup_empty(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_restarted_agent_finds_adopts_and_stops_a_workload_it_did_not_launch(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    sleeper = "import time; print('ready', flush=True); time.sleep(30)"
    record = launch(runtime, make_record(runtime, [sys.executable, "-c", sleeper]))
    wait_for_text(record.log_file, "ready")
    stranger = ProcessRuntime(tmp_path)  # what a restarted agent has: only the state file's record

    assert stranger.find_launched(record) == record.pid
    assert stranger.exit_code(record) is None
    stranger.terminate(record)

    assert wait_exit(stranger, record) == 128 + 15
    assert wait_exit(runtime, record) == 128 + 15


def test_a_pid_that_is_not_our_wrapper_is_never_signalled(runtime: ProcessRuntime) -> None:
    record = make_record(runtime, ["true"])
    record.pid = os.getpid()  # a reused pid: this very test process

    runtime.terminate(record)
    runtime.kill(record)

    assert runtime.exit_code(record) == UNKNOWN_EXIT_CODE  # gone as far as the workload is concerned
    assert runtime.find_launched(record) is None


def test_kill_ends_the_whole_process_group(runtime: ProcessRuntime) -> None:
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    record = launch(runtime, make_record(runtime, [sys.executable, "-c", stubborn]))
    wait_for_text(record.log_file, "ready")

    runtime.kill(record)

    assert wait_exit(runtime, record) == 128 + signal.SIGKILL
    deadline = time.monotonic() + DEADLINE_S
    while not _pgroup_empty(record.pid):
        assert time.monotonic() < deadline, "processes of the workload survived SIGKILL"
        time.sleep(0.02)

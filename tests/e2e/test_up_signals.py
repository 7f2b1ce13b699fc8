"""`aifactory up` leaves nothing behind: SIGTERM and SIGHUP stop it as Ctrl-C does, and killed outright
(SIGKILL) it takes every process it started with it (services, nats-server, PostgreSQL, agents, and the
workloads the agents run).

One data directory for the three runs (in order): only the first pays for the new database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from shared.client.gateway import GatewayClient
from shared.infra.embedded import free_port
from shared.infra.first_start import read_env_file

REPO = Path(__file__).resolve().parents[2]
STARTUP_S = 180.0  # a deadline: a cold start with a new database on a loaded CI machine
GONE_S = 30.0  # a clean stop of eight processes and PostgreSQL's shutdown, on that machine
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("up-signals"))


@pytest.fixture
def up(data_dir: Path) -> Iterator[psutil.Process]:
    """A running `aifactory up` with one simulated agent running one workload."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIFACTORY_")}
    ports = [str(free_port()) for _ in range(3)]
    argv = [
        sys.executable, "-m", "services.cli.main", "up", "--data-dir", str(data_dir), "--agents", "1",
        "--gpus-per-agent", "2", "--port", ports[0], "--ingest-port", ports[1], "--metering-port", ports[2],
    ]  # fmt: skip
    with open(data_dir / "up-test.log", "ab") as log:
        process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_until(lambda: read_pid(data_dir) == process.pid, "the factory up", STARTUP_S, process)
        run_a_workload(data_dir)
        yield psutil.Process(process.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()


def read_pid(data_dir: Path) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError):
        return int((data_dir / "up.pid").read_text())
    return None


def run_a_workload(data_dir: Path) -> None:
    connection = read_env_file(data_dir / "connection.env")
    tenant = GatewayClient(connection["AIFACTORY_GATEWAY_URL"], connection["AIFACTORY_TENANT_API_KEY"])
    try:
        # restart_policy fail: a job of an earlier run, ended with its factory, does not come back.
        spec = {"name": "sleeper", "command": SLEEPER, "restart_policy": "fail"}
        job = tenant.submit(connection["AIFACTORY_PROJECT"], spec)
        wait_until(lambda: tenant.job(job["job_id"])["state"] == "running", "the job running", 60.0)
    finally:
        tenant.close()


def everything_it_started(up: psutil.Process, data_dir: Path) -> list[psutil.Process]:
    """Its descendants, and PostgreSQL, which pg_ctl runs as a daemon (no longer its descendant)."""
    processes = up.children(recursive=True)
    postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    processes += [psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]
    names = " ".join(" ".join(p.cmdline()) for p in processes)
    for expected in ("services.gateway.main", "services.agent.main", "nats-server", "postgres", "time.sleep"):
        assert expected in names, f"{expected} is not among {names}"
    return processes


def assert_all_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=GONE_S)
    left = [describe(p) for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for process in alive:  # not to leave them to the next test
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert left == [], f"{len(left)} process(es) left behind"


def describe(process: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{process.pid} {' '.join(process.cmdline())[:120]}"
    return str(process.pid)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_everything_as_ctrl_c_does(
    up: psutil.Process, data_dir: Path, stop_signal: signal.Signals
) -> None:
    started = everything_it_started(up, data_dir)

    up.send_signal(stop_signal)

    assert up.wait(GONE_S * 2) == 0
    assert_all_gone(started)
    assert read_pid(data_dir) is None


def test_killed_outright_it_takes_every_process_it_started_with_it(
    up: psutil.Process, data_dir: Path
) -> None:
    started = everything_it_started(up, data_dir)

    up.kill()

    assert_all_gone(started)


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"`aifactory up` exited with {process.returncode} before {what}")
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(0.2)

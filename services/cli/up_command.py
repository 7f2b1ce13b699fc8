"""`aifactory up` and `aifactory down`: the embedded factory, in the foreground or in the background.

A running `up` keeps its process id in <data dir>/up.pid from the moment the factory is ready until it has
stopped: `up --detach` waits for that file to return, and `down` signals the process it names. SIGTERM and
SIGHUP stop `up` as Ctrl-C does (every process it started, workloads included), so `down`, `kill`, Docker,
systemd and a closed terminal leave nothing behind; `up` killed outright (SIGKILL) takes its processes with
it too (each dies with its parent, workloads with their agent).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import psutil
import typer
from rich.console import Console

from shared.infra.first_start import load_defaults
from shared.infra.launcher import Factory, FactoryConfig

PID_FILE = "up.pid"
console = Console()

DataDir = Annotated[Path, typer.Option(help="Where NATS and PostgreSQL keep their data, and the logs.")]


def up(
    data_dir: DataDir = Path(".aifactory"),
    agents: Annotated[int, typer.Option(help="Simulated node agents to start.")] = 2,
    gpus_per_agent: Annotated[int, typer.Option(help="GPUs on each simulated node.")] = 8,
    gpu_model: Annotated[str, typer.Option(help="GPU model of the simulated nodes.")] = "A100",
    port: Annotated[int, typer.Option(envvar="AIFACTORY_GATEWAY_PORT", help="Gateway HTTP port.")] = 8000,
    ingest_port: Annotated[
        int, typer.Option(envvar="AIFACTORY_INGEST_PORT", help="Ingest HTTP port (model servers' usage).")
    ] = 8001,
    metering_port: Annotated[
        int, typer.Option(envvar="AIFACTORY_METERING_PORT", help="Metering's internal API port.")
    ] = 8002,
    defaults: Annotated[
        bool,
        typer.Option(
            help="On a new embedded database, create a default tenant, project, quota and example price "
            "book, and write their ids and the tenant's key into connection.env."
        ),
    ] = True,
    detach: Annotated[
        bool, typer.Option(help="Run in the background; return once it is ready. `aifactory down` stops it.")
    ] = False,
) -> None:
    """Start NATS, PostgreSQL, every service and simulated agents; Ctrl-C (or `aifactory down`) stops them."""
    if _running_pid(data_dir) is not None:
        console.print(f"[red]a factory is already running under {data_dir}[/] (`aifactory down` stops it)")
        raise typer.Exit(1)
    if detach:
        argv = [
            "--data-dir", str(data_dir), "--agents", str(agents), "--gpus-per-agent", str(gpus_per_agent),
            "--gpu-model", gpu_model, "--port", str(port), "--ingest-port", str(ingest_port),
            "--metering-port", str(metering_port), "--defaults" if defaults else "--no-defaults",
        ]  # fmt: skip
        _start_detached(argv, data_dir)
        _print_connection(data_dir)
        return
    config = FactoryConfig(
        data_dir=data_dir,
        agents=agents,
        gpus_per_agent=gpus_per_agent,
        gpu_model=gpu_model,
        gateway_port=port,
        ingest_port=ingest_port,
        metering_port=metering_port,
        first_start_defaults=defaults,
        workloads_die_with_agents=True,
    )
    _run_in_foreground(Factory(config, progress=lambda msg: console.print(f"[cyan]•[/] {msg}")), data_dir)


def down(data_dir: DataDir = Path(".aifactory")) -> None:
    """Stop the factory `aifactory up` runs under the data directory (as Ctrl-C would), and wait for it."""
    pid = _running_pid(data_dir)
    if pid is None:
        console.print(f"no factory is running under {data_dir}")
        return
    os.kill(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(timeout=120)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        console.print(f"[red]process {pid} is still stopping after 120 s[/] (see {data_dir}/logs/up.log)")
        raise typer.Exit(1) from None
    console.print("[green]stopped[/]")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _stop_on_signal(_signum: int, _frame: FrameType | None) -> None:
    _ignore_stop_signals()
    raise KeyboardInterrupt


def _ignore_stop_signals() -> None:
    """While stopping: a second signal (Ctrl-C pressed again, SIGHUP after SIGTERM) must not cut it short."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def _run_in_foreground(factory: Factory, data_dir: Path) -> None:
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _stop_on_signal)
    try:
        with console.status("starting the factory"):
            factory.start()  # stops what it started when interrupted
    except KeyboardInterrupt:
        console.print("[red]stopped before the factory was up[/]")
        raise typer.Exit(1) from None
    pid_path = data_dir / PID_FILE
    try:
        pid_path.write_text(str(os.getpid()))
        console.print(
            f"[green]aifactory is up[/]: gateway {factory.gateway_url}, ingest {factory.ingest_url}"
        )
        _print_connection(data_dir)
        while all(s.alive for s in factory.services.values()):
            time.sleep(0.5)
        console.print(f"[red]a service exited; stopping[/] (see the logs under {data_dir}/logs)")
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        _ignore_stop_signals()
        factory.stop()
        pid_path.unlink(missing_ok=True)
    console.print("[green]stopped[/]")


def _start_detached(argv: list[str], data_dir: Path, timeout_s: float = 300.0) -> None:
    """`aifactory up` in its own session, its output in <data dir>/logs/up.log, once it is ready."""
    log_path = data_dir / "logs" / "up.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    (data_dir / PID_FILE).unlink(missing_ok=True)  # a stale one: no process holds it (checked above)
    with console.status("starting the factory in the background"), open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "up", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while _running_pid(data_dir) != process.pid:
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                console.print(f"[red]the factory did not come up[/]: see {log_path}")
                raise typer.Exit(1)
            time.sleep(0.2)
    console.print(f"[green]aifactory is up[/] in the background (pid {process.pid}, log {log_path})")


def _running_pid(data_dir: Path) -> int | None:
    """The process id in up.pid while that process is alive and an `up` (not another that got its id)."""
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
        return pid if "up" in psutil.Process(pid).cmdline() else None
    except (FileNotFoundError, ValueError, psutil.Error):
        return None


def _print_connection(data_dir: Path) -> None:
    # The operator's key stays in the owner-only file: printed, it would land in scrollback and CI logs.
    if defaults := load_defaults(data_dir):
        console.print(
            f"default tenant [bold]{defaults['AIFACTORY_TENANT']}[/], project "
            f"[bold]{defaults['AIFACTORY_PROJECT']}[/]: `aifactory submit -- python train.py` runs there"
        )
    console.print(
        f"gateway URL, operator key and defaults: {data_dir}/connection.env (client commands read it)"
    )

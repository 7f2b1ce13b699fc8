"""Workload processes on this host: each runs under the wrapper, as the leader of a session of its own.

A new session keeps a workload alive through an agent crash or restart; the wrapper's exit file
tells the restarted agent how a workload it no longer parents has ended. The agent never signals a
pid it cannot prove is its wrapper (its command line names the workload's exit file), so a pid reused
by another program after a restart is left alone.

With a sandbox (sandbox_host.py), the wrapper runs bubblewrap, which confines the command: the wrapper
stays outside, as the agent's user, so the workload can neither fake its exit file nor signal it.
Without one (AIFACTORY_AGENT_SANDBOX=off), the command runs as the agent's user with the host in view.
Either way its environment is built from scratch (domain/environment.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

from services.agent.app.ports import EXIT_REJECTED, UNKNOWN_EXIT_CODE, LaunchFailed
from services.agent.domain.environment import base_environment, workload_environment
from services.agent.domain.state import WorkloadRecord
from services.agent.gpu.backend import GpuQueryError
from services.agent.runtime import wrapper
from services.agent.runtime.file_names import safe_file_name
from services.agent.runtime.sandbox import WORKDIR
from services.agent.runtime.sandbox_host import SandboxUnavailable, WorkloadSandbox
from shared.clock import Clock, SystemClock
from shared.events.jobs import env_entry_problem
from shared.infra.parent_death import die_with_parent

log = logging.getLogger(__name__)

WRAPPER_PATH = wrapper.WRAPPER_SCRIPT
PROC = Path("/proc")

__all__ = ["ProcessRuntime", "safe_file_name"]


class ProcessRuntime:
    def __init__(
        self,
        state_dir: Path,
        *,
        agent_env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        die_with_agent: bool = False,
        sandbox: WorkloadSandbox | None = None,
    ) -> None:
        """`agent_env` (default os.environ) gives workloads their PATH and LANG, nothing else."""
        self._clock: Clock = clock or SystemClock()
        # SIGTERM, not SIGKILL: the wrapper passes it on to the whole workload, then records the exit.
        self._die_with_agent = die_with_agent
        self.logs_dir = state_dir / "logs"
        self.run_dir = state_dir / "run"
        self._agent_env = agent_env
        self._sandbox = sandbox
        # Workloads launched by this agent process (its children): polled, so they are reaped.
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def files_for(self, job_id: str, replica: int, allocation_id: str) -> tuple[str, str]:
        exit_file = self.run_dir / f"{safe_file_name(allocation_id)}.exit"
        log_file = self.logs_dir / f"{safe_file_name(job_id)}-{replica}.log"
        return str(exit_file.resolve()), str(log_file.resolve())

    def launch(self, record: WorkloadRecord) -> int:
        if self._sandbox is not None and (problem := self._sandbox.unavailable()) is not None:
            raise _refusal(record, problem)
        agent_env = os.environ if self._agent_env is None else self._agent_env
        env = workload_environment(
            base_environment(agent_env, home=WORKDIR if self._sandbox else agent_env.get("HOME", "/")),
            record.env,
            gpu_uuids=record.gpu_uuids,
            job_id=record.job_id,
            allocation_id=record.allocation_id,
            replica=record.replica,
        )
        _check_environment(record.env)
        _check_program(record.command[0] if record.command else "", env["PATH"])
        self.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        Path(record.log_file).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        command, how = self._confined(record)
        self.note(record, f"launching allocation {record.allocation_id} (launch {record.launches + 1}){how}")
        with open(record.log_file, "ab") as log_handle:
            try:
                process = subprocess.Popen(
                    [wrapper.SHELL, WRAPPER_PATH, record.exit_file, *command],
                    stdin=subprocess.DEVNULL,
                    stdout=log_handle,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    preexec_fn=die_with_parent(signal.SIGTERM) if self._die_with_agent else None,
                )
            except OSError as error:
                raise LaunchFailed(
                    wrapper.EXIT_CANNOT_EXECUTE, f"cannot start the workload wrapper: {error}"
                ) from error
            except (ValueError, TypeError) as error:
                # An argument the OS cannot take (a NUL, a lone surrogate): the command is at fault.
                raise LaunchFailed(EXIT_REJECTED, f"cannot launch: {error}") from error
        self._children[record.allocation_id] = process
        return process.pid

    def _confined(self, record: WorkloadRecord) -> tuple[list[str], str]:
        """The wrapper's arguments after the exit file, and how the launch note says it runs."""
        if self._sandbox is None:
            return ["--", *record.command], " unsandboxed"
        try:
            prepared = self._sandbox.prepare(record)
        except (SandboxUnavailable, GpuQueryError) as error:
            raise _refusal(record, str(error)) from error
        except OSError as error:
            raise _refusal(record, f"cannot prepare its working directory: {error}") from error
        user = f"UID {prepared.uid}" if prepared.uid is not None else "the agent's UID"
        return [wrapper.SANDBOXED, "--", *prepared.argv], f" in the sandbox as {user}"

    def exit_code(self, record: WorkloadRecord) -> int | None:
        child = self._children.get(record.allocation_id)
        if child is not None and child.pid == record.pid:
            returncode = child.poll()
            if returncode is None:
                return None
            recorded = _read_exit_file(record.exit_file)
            if recorded is not None:
                return recorded
            return wrapper.SIGNAL_EXIT_BASE - returncode if returncode < 0 else returncode
        recorded = _read_exit_file(record.exit_file)
        if recorded is not None:
            return recorded
        return None if self._is_our_wrapper(record.pid, record.exit_file) else UNKNOWN_EXIT_CODE

    def terminate(self, record: WorkloadRecord) -> None:
        """SIGTERM to the wrapper, which passes it on to the whole workload."""
        if self._owns(record):
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGTERM)

    def kill(self, record: WorkloadRecord) -> None:
        """SIGKILL to the workload's process group: the wrapper, the command and its children."""
        if self._owns(record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGKILL)

    def find_launched(self, record: WorkloadRecord) -> int | None:
        if not PROC.is_dir():
            return None
        for entry in PROC.iterdir():
            if entry.name.isdigit() and self._is_our_wrapper(int(entry.name), record.exit_file):
                return int(entry.name)
        return None

    def note(self, record: WorkloadRecord, message: str) -> None:
        Path(record.log_file).parent.mkdir(parents=True, exist_ok=True)
        stamp = self._clock.now().isoformat(timespec="seconds")
        with open(record.log_file, "a") as handle:
            handle.write(f"[aifactory-agent {stamp}] {message}\n")

    def forget(self, record: WorkloadRecord) -> None:
        child = self._children.pop(record.allocation_id, None)
        if child is not None:
            child.poll()  # reap it if it has ended
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record.exit_file)
        if self._sandbox is not None:
            try:
                self._sandbox.release(record)
            except OSError:
                log.exception("cannot remove the working directory of allocation %s", record.allocation_id)

    def _owns(self, record: WorkloadRecord) -> bool:
        child = self._children.get(record.allocation_id)
        if child is not None and child.pid == record.pid:
            return child.poll() is None
        return self._is_our_wrapper(record.pid, record.exit_file)

    def _is_our_wrapper(self, pid: int, exit_file: str) -> bool:
        if pid <= 0:
            return False
        try:
            arguments = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return False
        except OSError:
            # No /proc (not Linux): the best we can do is that the pid exists.
            return _pid_exists(pid)
        return WRAPPER_PATH.encode() in arguments and exit_file.encode() in arguments


def _refusal(record: WorkloadRecord, problem: str) -> LaunchFailed:
    """The node cannot run it: a start that never ran is refused (the job goes back to its queue); an
    inference replica that has run before fails instead."""
    return LaunchFailed(
        EXIT_REJECTED,
        f"not started: the workload sandbox is unavailable: {problem}",
        refused=record.launches == 0,
    )


def _check_environment(spec_env: Mapping[str, str]) -> None:
    """The gateway refuses such a job; a command that did not come through it is refused here too."""
    for name, value in spec_env.items():
        if (problem := env_entry_problem(name, value)) is not None:
            raise LaunchFailed(EXIT_REJECTED, f"cannot launch: environment variable {name!r}: {problem}")


def _check_program(program: str, path: str) -> None:
    """Fail before launching when the program cannot run, with the reason the job log will show."""
    if not program.strip():
        raise LaunchFailed(wrapper.EXIT_NOT_FOUND, "cannot launch: the command is empty")
    if shutil.which(program, path=path) is not None:
        return
    if os.sep in program and os.path.exists(program):
        raise LaunchFailed(
            wrapper.EXIT_CANNOT_EXECUTE, f"cannot launch {program!r}: permission denied (not executable)"
        )
    raise LaunchFailed(wrapper.EXIT_NOT_FOUND, f"cannot launch {program!r}: command not found (PATH={path})")


def _read_exit_file(path: str) -> int | None:
    try:
        return int(Path(path).read_text().strip())
    except FileNotFoundError:
        return None
    except ValueError:
        log.warning("exit file %s is unreadable: treating the exit code as unknown", path)
        return UNKNOWN_EXIT_CODE


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

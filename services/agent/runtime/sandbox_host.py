"""The workload sandbox on this host: whether it can run, what of the host workloads see, their working
directories and UIDs. The decisions are sandbox.py's; this module does the I/O.

A workload's working directory is <state dir>/work/<owner>/<allocation>, created for each launch,
owned by the workload's UID (mode 0700) and removed once the workload has ended. <owner> is its
tenant's directory (or its allocation's, with AIFACTORY_AGENT_WORKLOAD_UID_PER=allocation), and the UID
that owns it is the owner's UID: so a restarted agent finds the UIDs in use on the disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.agent.domain.state import WorkloadRecord
from services.agent.runtime.file_names import safe_file_name
from services.agent.runtime.sandbox import (
    SYSTEM_PATHS,
    Confinement,
    HostView,
    SandboxConfig,
    UidScope,
    owner_key,
    pick_uid,
    sandbox_argv,
)
from services.agent.settings import AgentSettings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 20.0
TOOLS_PATH = "/usr/bin:/bin"
OFF_HINT = "AIFACTORY_AGENT_SANDBOX=off runs workloads unconfined"

DevicesFor = Callable[[Sequence[str]], Sequence[str]]


class SandboxUnavailable(Exception):
    """This node cannot confine a workload now: the start is refused (it never ran)."""


@dataclass(frozen=True)
class Prepared:
    argv: list[str]
    uid: int | None
    workdir: Path


class WorkloadSandbox:
    def __init__(
        self,
        config: SandboxConfig,
        work_root: Path,
        *,
        uids: range,
        scope: UidScope = "tenant",
        devices_for: DevicesFor = lambda _uuids: (),
    ) -> None:
        self.config = config
        self.work_root = work_root
        self.uids = uids
        self.scope = scope
        self._devices_for = devices_for
        self._ready = False

    def unavailable(self) -> str | None:
        """Why this node cannot sandbox a workload (None: it can). Probed again until it works, so a node
        fixed while its agent runs (bubblewrap installed) takes workloads again."""
        if self._ready:
            return None
        problem = self._probe()
        self._ready = problem is None
        return problem

    def prepare(self, record: WorkloadRecord) -> Prepared:
        """The workload's working directory and UID, and the command line that confines it."""
        key = owner_key(self.scope, record.tenant_id, record.allocation_id)
        owner_dir = self.work_root / safe_file_name(key)
        uid = self._uid_for(key, owner_dir) if self.config.switch_user else None
        if uid is None:
            owner_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        workdir = owner_dir / safe_file_name(record.allocation_id)
        _remove_tree(workdir)  # what a launch cut short by a crash left behind
        _make_dir_for(workdir, uid)
        devices = tuple(self._devices_for(record.gpu_uuids))
        return Prepared(
            sandbox_argv(self.config, Confinement(str(workdir), uid, devices), record.command), uid, workdir
        )

    def release(self, record: WorkloadRecord) -> None:
        """Remove the ended workload's working directory (and its allocation's UID directory)."""
        name = safe_file_name(record.allocation_id)
        for workdir in self.work_root.glob(f"*/{name}"):
            _remove_tree(workdir)
            if workdir.parent.name.startswith("allocation-"):
                with contextlib.suppress(OSError):
                    workdir.parent.rmdir()

    def _uid_for(self, key: str, owner_dir: Path) -> int:
        with contextlib.suppress(FileNotFoundError):
            owner = owner_dir.stat().st_uid
            if owner in self.uids:
                return owner
        taken = set()
        if self.work_root.is_dir():
            for entry in self.work_root.iterdir():
                with contextlib.suppress(OSError):
                    taken.add(entry.stat().st_uid)
        uid = pick_uid(key, self.uids, taken)
        if uid is None:
            raise SandboxUnavailable(
                f"every workload UID of {self.uids.start}-{self.uids.stop - 1} is in use"
            )
        self.work_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(owner_dir, uid, uid, follow_symlinks=False)
        return uid

    def _probe(self) -> str | None:
        config = self.config
        if shutil.which(config.bwrap) is None:
            return f"bubblewrap not found: {config.bwrap!r} (install the bubblewrap package; {OFF_HINT})"
        for tool, package in ((config.env_program, "coreutils"), (config.setpriv, "util-linux")):
            if not os.access(tool, os.X_OK):
                return f"{tool} not found (package {package})"
        if os.geteuid() in self.uids:
            return f"the workload UIDs {self.uids.start}-{self.uids.stop - 1} hold the agent's own UID"
        workdir = self.work_root / ".probe"
        uid = self.uids.start if config.switch_user else None
        try:
            _remove_tree(workdir)
            _make_dir_for(workdir, uid)
            argv = sandbox_argv(config, Confinement(str(workdir), uid), ["true"])
            done = subprocess.run(
                argv, env={"PATH": TOOLS_PATH}, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=PROBE_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as error:
            return f"cannot start bubblewrap {config.bwrap!r}: {error}"
        finally:
            _remove_tree(workdir)
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            user = f"run as UID {uid}" if uid is not None else "set up a user namespace"
            return f"bubblewrap cannot {user} (exit {done.returncode}): {said[-1] if said else 'no message'}"
        return None


def host_view(
    *,
    read_only: Iterable[Path] = (),
    read_write: Iterable[Path] = (),
    hidden: Iterable[Path] = (),
    start_in: Path | None = None,
) -> HostView:
    """The host's system directories, the agent's own Python (a workload may run it: its venv and base
    installation), and the operator's shared paths; `hidden` (the state directory) never shows."""
    shown: list[str] = []
    symlinks: list[tuple[str, str]] = []
    for name in SYSTEM_PATHS:
        path = Path(name)
        if path.is_symlink():
            symlinks.append((name, os.readlink(path)))  # /bin -> usr/bin: the target is bound itself
        elif path.is_dir():
            shown.append(name)
    resolv = Path("/etc/resolv.conf").resolve()
    if resolv.exists() and not resolv.is_relative_to("/etc"):  # systemd-resolved's, under /run
        shown.append(str(resolv.parent))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        resolved = Path(prefix).resolve()
        if resolved != Path("/") and resolved.is_dir():
            shown.append(str(resolved))
    shown += [str(path.resolve()) for path in read_only]
    writable = tuple(str(path.resolve()) for path in read_write)
    start = str(start_in.resolve()) if start_in else None
    if start and not any(Path(start).is_relative_to(shared) for shared in (*shown, *writable)):
        raise ValueError(f"the workloads' start directory {start} is not among the shared paths")
    return HostView(
        read_only=tuple(dict.fromkeys(shown)),
        read_write=writable,
        symlinks=tuple(symlinks),
        hidden=tuple(str(path.resolve()) for path in hidden),
        hostname=socket.gethostname(),
        start_in=start,
    )


def host_tool(name: str) -> str:
    """The host's `env` or `setpriv`, as the sandbox sees it (under /usr, bound read-only)."""
    found = shutil.which(name, path=TOOLS_PATH)
    return os.path.realpath(found) if found else f"/usr/bin/{name}"


def _make_dir_for(path: Path, uid: int | None) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.mkdir(mode=0o700)
    if uid is not None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchown(fd, uid, uid)
        finally:
            os.close(fd)


def _remove_tree(path: Path) -> None:
    """rmtree never follows a link the workload left; without root, a directory it made unwritable is
    made writable again first."""

    def writable_again(function: Callable[[str], object], failed: str, _error: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            function(failed)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, onerror=writable_again)


def create_sandbox(settings: AgentSettings, devices_for: DevicesFor) -> WorkloadSandbox | None:
    """The sandbox the settings ask for, probed and logged at start-up; None when it is off."""
    if not settings.agent_sandbox:
        log.warning(
            "WORKLOAD SANDBOX OFF (AIFACTORY_AGENT_SANDBOX=off): workloads run unconfined as the agent's "
            "own user (UID %d), and can read its state and signal each other; only for trusted workloads",
            os.geteuid(),
        )
        return None
    state_dir = settings.state_dir.resolve()
    config = SandboxConfig(
        bwrap=settings.agent_sandbox_bwrap,
        switch_user=os.geteuid() == 0,
        view=host_view(
            read_only=settings.agent_sandbox_read_only,
            read_write=settings.agent_sandbox_read_write,
            hidden=[state_dir],
            start_in=settings.agent_sandbox_start_in,
        ),
        env_program=host_tool("env"),
        setpriv=host_tool("setpriv"),
    )
    sandbox = WorkloadSandbox(
        config,
        state_dir / "work",
        uids=settings.workload_uids,
        scope=settings.agent_workload_uid_per,
        devices_for=devices_for,
    )
    if (problem := sandbox.unavailable()) is not None:
        log.error(
            "WORKLOAD SANDBOX UNAVAILABLE: %s. Every start is refused until it works (%s)", problem, OFF_HINT
        )
    elif config.switch_user:
        log.info(
            "workload sandbox on: %s, workloads run as UIDs %d-%d (one per %s)",
            settings.agent_sandbox_bwrap, sandbox.uids.start, sandbox.uids.stop - 1, sandbox.scope,
        )  # fmt: skip
    else:
        log.warning(
            "workload sandbox on without root: workloads run in namespaces of their own but keep the "
            "agent's UID %d on the host (run the agent as root for a UID per workload; see "
            "docs/workload-sandbox.md)",
            os.geteuid(),
        )
    return sandbox

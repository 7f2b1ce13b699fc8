"""The workload sandbox's decisions, apart from any I/O: which UID a workload runs as, and the bwrap
command line that confines it (docs/workload-sandbox.md tells why each part is there).

Inside, a workload has PID, mount, IPC, UTS and cgroup namespaces of its own. It sees the host's system
directories (and the paths the operator shares) read-only, a private /tmp, /var/tmp and /dev/shm, a
/proc of its own processes only, the device nodes of its own GPUs, and its working directory at
/workspace, which is its HOME; never the agent's state directory, even inside a shared path. When the
agent is root, bwrap sets the sandbox up as root and setpriv drops to the workload's UID, keeping no
capability, before the command runs. When the agent is not root, bwrap runs unprivileged in a user
namespace of its own (the workload keeps the agent's UID on the host).

The chain is `bwrap ... -- env --default-signal setpriv [switch] -- COMMAND`: env puts every signal back
to its default (the wrapper starts bwrap with SIGTERM ignored, so that the SIGTERM it sends its process
group reaches the command and not bwrap); setpriv rather than env runs the command, so that a program
whose name holds "=" is not taken for a variable. --die-with-parent ties the sandbox to the wrapper,
its parent, which outlives an agent restart: the sandbox ends when the wrapper is killed, never when
the agent is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

WORKDIR = "/workspace"
# Read-only from the host where present: what a command's interpreter and its libraries need to run.
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
PRIVATE_TMP = ("/tmp", "/var/tmp", "/dev/shm")
# What bwrap needs to enter the workload's directory (its UID's, mode 0700) and setpriv to drop to that
# UID; setpriv drops them, and every other, before the command runs.
SWITCH_USER_CAPS = ("CAP_DAC_READ_SEARCH", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP")
DEFAULT_UID_RANGE = "200000-299999"
# The largest UID the kernel takes: 2**32 - 1 is (uid_t) -1, "no change".
MAX_UID = 2**32 - 2

UidScope = Literal["tenant", "allocation"]


@dataclass(frozen=True)
class HostView:
    """What a workload sees of the host, read once when the agent starts (sandbox_host.host_view).
    Paths are absolute and resolved (no symbolic link in them)."""

    read_only: tuple[str, ...] = ()  # bound read-only at the same place
    read_write: tuple[str, ...] = ()  # bound read-write at the same place (shared data, scratch)
    symlinks: tuple[tuple[str, str], ...] = ()  # (path, target): /bin -> usr/bin on a merged-/usr host
    hidden: tuple[str, ...] = ()  # never visible, even inside a bound path: the agent's state directory
    hostname: str = "workload"
    # Where a workload's command starts (its relative paths resolve there): one of the shared paths, for
    # an embedded factory whose jobs name files of the directory it was started in; else WORKDIR.
    start_in: str | None = None


@dataclass(frozen=True)
class SandboxConfig:
    bwrap: str
    switch_user: bool  # the agent is root: setpriv drops to the workload's UID inside the sandbox
    view: HostView = field(default_factory=HostView)
    env_program: str = "/usr/bin/env"
    setpriv: str = "/usr/bin/setpriv"


@dataclass(frozen=True)
class Confinement:
    """One workload's own part of the sandbox."""

    workdir: str  # host path of its working directory, bound at WORKDIR
    uid: int | None  # None when the agent cannot switch UIDs (not root)
    devices: tuple[str, ...] = ()  # its GPUs' device nodes, as the GPU backend lists them


def sandbox_argv(config: SandboxConfig, confinement: Confinement, command: Sequence[str]) -> list[str]:
    """The command line that runs `command` confined (the wrapper runs it, and records its exit code)."""
    if config.switch_user != (confinement.uid is not None):
        raise ValueError("a UID to switch to is needed exactly when the agent switches users")
    argv = [
        config.bwrap,
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--hostname", config.view.hostname,
        "--die-with-parent",
    ]  # fmt: skip
    if config.switch_user:
        argv += ["--cap-drop", "ALL"]
        for cap in SWITCH_USER_CAPS:
            argv += ["--cap-add", cap]
    else:
        argv.append("--unshare-user")
    argv += _filesystem(config.view, confinement)
    argv += [
        "--chdir",
        config.view.start_in or WORKDIR,
        "--",
        config.env_program,
        "--default-signal",
        config.setpriv,
    ]
    if confinement.uid is not None:
        uid = confinement.uid
        argv += [
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]
    return [*argv, "--", *command]


class _Mounts:
    """bwrap's mount operations in order, creating each destination's missing parents world-readable
    (bwrap would make them 0700, closed to an unprivileged workload)."""

    def __init__(self) -> None:
        self.argv: list[str] = []
        self.trees: list[str] = []  # host trees bound at the same place: whatever is below them exists
        self.made: set[str] = {"/"}  # directories (and links) that exist, but nothing below them

    def existing(self, path: str) -> bool:
        return path in self.made or any(_within(path, tree) for tree in self.trees)

    def _parents(self, path: str) -> None:
        for parent in reversed(PurePosixPath(path).parents):
            name = str(parent)
            if not self.existing(name):
                self.argv += ["--perms", "0755", "--dir", name]
                self.made.add(name)

    def add(self, option: str, *paths: str, perms: str | None = None, tree: bool = False) -> None:
        destination = paths[-1]
        self._parents(destination)
        self.argv += [*(["--perms", perms] if perms else []), option, *paths]
        if tree:
            self.trees.append(destination)
        else:
            self.made.add(destination)


def _filesystem(view: HostView, confinement: Confinement) -> list[str]:
    mounts = _Mounts()
    for path, target in view.symlinks:
        mounts.add("--symlink", target, path)
    binds = _binds(view.read_only, view.read_write)
    # A shared path under /tmp (say) is bound once the private /tmp is there, not hidden by it.
    later = [bind for bind in binds if any(_within(bind[0], tmp) for tmp in PRIVATE_TMP)]
    for path, writable in [bind for bind in binds if bind not in later]:
        mounts.add("--bind" if writable else "--ro-bind", path, path, tree=True)
    mounts.add("--proc", "/proc")
    mounts.add("--dev", "/dev")
    for device in confinement.devices:
        mounts.add("--dev-bind", device, device)
    for directory in PRIVATE_TMP:
        mounts.add("--tmpfs", directory, perms="1777")
    for path, writable in later:
        mounts.add("--bind" if writable else "--ro-bind", path, path, tree=True)
    for path in view.hidden:
        if any(_within(path, tree) or _within(tree, path) for tree in mounts.trees):
            mounts.add("--tmpfs", path, perms="0700")
    mounts.add("--bind", confinement.workdir, WORKDIR)
    return mounts.argv


def _binds(read_only: Iterable[str], read_write: Iterable[str]) -> list[tuple[str, bool]]:
    """Parents before children; a path already visible the same way through a parent is left out."""
    wanted = sorted(
        {(path, False) for path in read_only} | {(path, True) for path in read_write},
        key=lambda entry: (PurePosixPath(entry[0]).parts, entry[1]),
    )
    kept: list[tuple[str, bool]] = []
    for path, writable in wanted:
        covering = [entry for entry in kept if _within(path, entry[0])]
        nearest = max(covering, key=lambda entry: len(entry[0]), default=None)
        if nearest is None or nearest[1] != writable:
            kept.append((path, writable))
    return kept


def _within(path: str, ancestor: str) -> bool:
    """`path` is `ancestor` or below it."""
    return path == ancestor or ancestor == "/" or path.startswith(ancestor.rstrip("/") + "/")


# --- workload UIDs --------------------------------------------------------------------------------


def uid_range(text: str) -> range:
    """ "200000-299999" -> the UIDs from 200000 to 299999. Raises ValueError for anything else."""
    first, sep, last = text.strip().partition("-")
    if not (sep and first.isdigit() and last.isdigit()):
        raise ValueError(f"UID range {text!r} is not FIRST-LAST (e.g. {DEFAULT_UID_RANGE})")
    low, high = int(first), int(last)
    if not 0 < low <= high <= MAX_UID:
        raise ValueError(f"UID range {text!r} must be within 1-{MAX_UID}, its first UID not above its last")
    return range(low, high + 1)


def owner_key(scope: UidScope, tenant_id: str | None, allocation_id: str) -> str:
    """Whose UID a workload runs as: its tenant's (when known) or its allocation's own."""
    if scope == "tenant" and tenant_id:
        return f"tenant-{tenant_id}"
    return f"allocation-{allocation_id}"


def pick_uid(key: str, uids: range, taken: Collection[int]) -> int | None:
    """A UID of the range no other owner holds, the same for a key wherever it is free (so a tenant
    tends to get the same UID on every node); None when the range is used up."""
    if not uids:
        return None
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % len(uids)
    for step in range(len(uids)):
        uid = uids[(start + step) % len(uids)]
        if uid not in taken:
            return uid
    return None

"""Runs one workload command and records its exit code in a file.

    python services/agent/runtime/wrapper.py <exit-file> -- <argv...>

The agent launches this wrapper as the leader of a new session, so the workload outlives an agent
crash; the exit file tells a restarted agent how a workload it did not parent has ended. SIGTERM and
SIGINT are forwarded to the whole process group (the workload and its children). Exit codes follow
the shell: 128+N after signal N, 127 when the program is not found, 126 when it cannot be executed.
Standard library only: it runs with `python -I`, outside the agent's environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXECUTE = 126
SIGNAL_EXIT_BASE = 128


def write_exit_code(path: str, code: int) -> None:
    """Atomically, so a reader never sees a half-written code."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        handle.write(f"{code}\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class _Forwarder:
    """Forwards termination signals to the workload, even one that arrives before it is launched."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.child is None:
            self.pending = signum
            return
        self.forward(signum)

    def forward(self, signum: int) -> None:
        assert self.child is not None
        if os.getpgrp() == os.getpid():
            # Leader of our own group: reach the workload's children too, ignoring our own copy.
            handler = signal.signal(signum, signal.SIG_IGN)
            try:
                os.killpg(os.getpgrp(), signum)
            finally:
                signal.signal(signum, handler)
        else:
            self.child.send_signal(signum)


def run(exit_file: str, command: list[str]) -> int:
    forwarder = _Forwarder()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forwarder)
    try:
        child = subprocess.Popen(command)
    except FileNotFoundError as error:
        print(f"aifactory-agent: cannot launch {command[0]!r}: {error.strerror}", file=sys.stderr, flush=True)
        code = EXIT_NOT_FOUND
    except OSError as error:
        print(
            f"aifactory-agent: cannot execute {command[0]!r}: {error.strerror}", file=sys.stderr, flush=True
        )
        code = EXIT_CANNOT_EXECUTE
    else:
        forwarder.child = child
        if forwarder.pending is not None:
            forwarder.forward(forwarder.pending)
        returncode = child.wait()
        code = SIGNAL_EXIT_BASE - returncode if returncode < 0 else returncode
    write_exit_code(exit_file, code)
    return code


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: wrapper.py <exit-file> -- <command> [args...]", file=sys.stderr)
        return 2
    return run(argv[0], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

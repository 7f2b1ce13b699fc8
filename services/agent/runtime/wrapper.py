"""The workload wrapper (wrapper.sh, beside this file) and the exit codes it shares with the agent.

The agent runs `/bin/bash wrapper.sh <exit-file> [--sandboxed] -- <command> [args...]` as the leader of a
new session; the script records the workload's exit code in the exit file (see its header for why and
how). --sandboxed: the command is bubblewrap's (sandbox.py), started with SIGTERM ignored.
"""

from __future__ import annotations

from pathlib import Path

WRAPPER_SCRIPT = str((Path(__file__).parent / "wrapper.sh").resolve())
SHELL = "/bin/bash"
SANDBOXED = "--sandboxed"

EXIT_NOT_FOUND = 127
EXIT_CANNOT_EXECUTE = 126
SIGNAL_EXIT_BASE = 128

"""The agent's state on disk: a snapshot file plus an append-only journal of changes since it.

Every change is made durable before the agent acts on it or reports it. Rewriting the whole state
for each change cost O(workloads) per start, which dominated a busy agent; a change now appends one
journal line (fsynced), and the journal is folded into a new snapshot (temporary file, fsync,
rename) when it grows long and at every load. A line torn by a crash mid-append is the last one and
is ignored: its change was never acted on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from services.agent.domain.state import AgentState, WorkloadRecord

STATE_FILE_NAME = "agent-state.json"
JOURNAL_FILE_NAME = "agent-state.journal"
# Journal lines before the state is folded into a new snapshot: bounds the replay at start-up.
COMPACT_AFTER_LINES = 4096
PRIVATE = 0o600  # the state holds the workloads' environments, which may carry secrets


class StateFileError(RuntimeError):
    """The state file exists but cannot be read: the agent will not guess what it was running."""


class JsonStateFile:
    def __init__(
        self,
        state_dir: Path,
        compact_after_lines: int = COMPACT_AFTER_LINES,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.path = state_dir / STATE_FILE_NAME
        self.journal_path = state_dir / JOURNAL_FILE_NAME
        self._compact_after = compact_after_lines
        self._now = now  # when older files without finishing times say an allocation finished
        self._journal_lines = 0

    def load(self) -> AgentState:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            state = AgentState()
        else:
            try:
                state = AgentState.from_dict(json.loads(text), self._now())
            except (ValueError, TypeError, KeyError) as error:
                raise StateFileError(f"cannot read agent state file {self.path}: {error}") from error
        if self._replay_journal(state):
            self.save(state)
        return state

    def save(self, state: AgentState) -> None:
        """The whole state as a new snapshot; the journal starts over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        with os.fdopen(descriptor, "w") as handle:
            # dumps, not dump: dump streams through the pure-Python encoder.
            handle.write(json.dumps(state.to_dict(), separators=(",", ":")))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        if self._journal_lines or self.journal_path.exists():
            self.journal_path.unlink(missing_ok=True)
        self._journal_lines = 0

    def save_changes(self, state: AgentState, allocation_ids: Iterable[str]) -> None:
        """Journals the named workloads as they now are (gone ones as finished) and the epoch."""
        entries: list[dict[str, Any]] = [{"epoch": state.newest_epoch}]
        for allocation_id in allocation_ids:
            record = state.workloads.get(allocation_id)
            if record is not None:
                entries.append({"put": record.to_dict()})
            else:
                at = state.finished.get(allocation_id, self._now())
                entries.append({"finish": allocation_id, "at": at})
        payload = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
        try:
            os.write(descriptor, payload.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        self._journal_lines += len(entries)
        if self._journal_lines >= self._compact_after:
            self.save(state)

    def _replay_journal(self, state: AgentState) -> bool:
        try:
            lines = self.journal_path.read_text().splitlines()
        except FileNotFoundError:
            return False
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                _apply(state, entry, self._now)
            except (ValueError, TypeError, KeyError) as error:
                if number == len(lines):
                    break  # torn by a crash mid-append: never acted on
                raise StateFileError(
                    f"cannot read agent state journal {self.journal_path} line {number}: {error}"
                ) from error
        return True


def _apply(state: AgentState, entry: dict[str, Any], now: Callable[[], float]) -> None:
    if "epoch" in entry:
        state.observe_epoch(int(entry["epoch"]))
    elif "put" in entry:
        record = WorkloadRecord.from_dict(entry["put"])
        state.workloads[record.allocation_id] = record
    elif "finish" in entry:
        state.finish(str(entry["finish"]), float(entry["at"]) if "at" in entry else now())
    else:
        raise KeyError(f"unknown journal entry {sorted(entry)}")

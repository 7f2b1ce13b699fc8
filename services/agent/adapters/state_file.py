"""The agent's state as one JSON file, replaced atomically (temporary file, fsync, rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from services.agent.domain.state import AgentState

STATE_FILE_NAME = "agent-state.json"


class StateFileError(RuntimeError):
    """The state file exists but cannot be read: the agent will not guess what it was running."""


class JsonStateFile:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE_NAME

    def load(self) -> AgentState:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return AgentState()
        try:
            return AgentState.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError) as error:
            raise StateFileError(f"cannot read agent state file {self.path}: {error}") from error

    def save(self, state: AgentState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        # 0600: the file holds the workloads' environments, which may carry secrets.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(state.to_dict(), handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

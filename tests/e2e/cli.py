"""Running `aifactory` commands in-process against the e2e factory, as a user would type them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from services.cli.main import app


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.code == 0, self.stderr
        return json.loads(self.stdout)

    def refused(self) -> str:
        """The one line a refused command prints: on stderr, with a non-zero exit, no traceback."""
        assert self.code != 0, self.stdout
        assert self.stderr.count("\n") == 1 and self.stderr.startswith("error: "), self.stderr
        assert "Traceback" not in self.stdout + self.stderr
        return self.stderr.strip()


@dataclass(frozen=True)
class Cli:
    gateway_url: str
    api_key: str
    connection_file: Path  # missing unless a test writes it

    def __call__(self, *args: str, api_key: str | None = None, from_file: bool = False) -> Ran:
        """`from_file`: the URL and key only from the connection file, none from the environment."""
        env: dict[str, str | None] = {
            "AIFACTORY_GATEWAY_URL": None if from_file else self.gateway_url,
            "AIFACTORY_API_KEY": None if from_file else api_key or self.api_key,
            "AIFACTORY_CONNECTION_FILE": str(self.connection_file),
            "AIFACTORY_PROJECT": None,
            "AIFACTORY_TENANT": None,
            "COLUMNS": "250",  # no folded ids in tables
        }
        result = CliRunner().invoke(app, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    def save_connection(self, **entries: str) -> None:
        self.connection_file.write_text("".join(f"{name}={value}\n" for name, value in entries.items()))

"""The README's quick start and docs/usage-reporting.md's examples, run verbatim with bash against a fresh
embedded factory, so the docs cannot drift from what the factory does.

Only the environment differs from a reader's terminal: free ports (AIFACTORY_GATEWAY_PORT, _INGEST_PORT,
_METERING_PORT, which `aifactory up` reads) so that a port taken on the machine cannot fail the test, the
project's .venv/bin on PATH (as `source .venv/bin/activate` gives), a wide terminal for the tables, draft
invoices repriced every second rather than every 5 (so the quick start's `sleep 5` has a margin on a busy
machine), and none of the caller's AIFACTORY_* settings.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from shared.infra.embedded import free_port

REPO = Path(__file__).resolve().parents[2]
QUICK_START_MARKER = "# quick start"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the examples post with curl")


def bash_blocks(markdown_file: Path) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", markdown_file.read_text(), flags=re.MULTILINE | re.DOTALL)


def json_blocks(markdown_file: Path) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", markdown_file.read_text(), flags=re.MULTILINE | re.DOTALL)


def quick_start() -> str:
    blocks = [block for block in bash_blocks(REPO / "README.md") if block.startswith(QUICK_START_MARKER)]
    assert len(blocks) == 1, f"README.md needs one ```bash block starting with {QUICK_START_MARKER!r}"
    return blocks[0]


def readers_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIFACTORY_")}
    return env | {
        "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",
        "COLUMNS": "200",
        "AIFACTORY_INVOICE_PUBLISH_INTERVAL_S": "1",
        "AIFACTORY_GATEWAY_PORT": str(free_port()),
        "AIFACTORY_INGEST_PORT": str(free_port()),
        "AIFACTORY_METERING_PORT": str(free_port()),
    }


def run_bash(script: str, directory: Path, env: dict[str, str]) -> str:
    """The script's output; it fails the test with that output when a command fails."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stdout}"
    return done.stdout


def left_behind(directory: Path) -> list[str]:
    """Processes started under the directory (services, agents, workloads, NATS, PostgreSQL)."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(directory) in cmdline or process.info["cwd"] == str(directory):
            found.append(f"{process.info['pid']}: {cmdline}")
    return found


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh directory and environment; whatever happens, the factory is stopped after the test."""
    env = readers_environment()
    yield tmp_path, env
    subprocess.run(["aifactory", "down"], cwd=tmp_path, env=env, capture_output=True, timeout=180)
    assert left_behind(tmp_path) == []


def test_the_readme_quick_start_runs_verbatim(reader: tuple[Path, dict[str, str]]) -> None:
    directory, env = reader
    output = run_bash(quick_start(), directory, env)
    meters = {line.split("│")[2].strip() for line in output.splitlines() if line.count("│") > 3}
    assert {"gpu_hours", "tokens_1k", "requests"} <= meters, output
    assert left_behind(directory) == [], "the quick start ends with the factory stopped"


def test_the_usage_reporting_examples_work_as_shown(reader: tuple[Path, dict[str, str]]) -> None:
    directory, env = reader
    page = REPO / "docs" / "usage-reporting.md"
    script = "\n".join(["aifactory up --detach", *bash_blocks(page)])
    output = run_bash(script, directory, env)
    answers = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    shown = [json.loads(block) for block in json_blocks(page)]
    single, batch, problem = shown[0], shown[1], shown[2]
    assert answers[0] == single
    assert answers[1] == batch
    assert problem["status"] == 422 and len(problem["errors"]) == 3
    assert answers[2]["dead_letters"][0]["reason"] == shown[3]["dead_letters"][0]["reason"]

"""mypy refuses a handler wired to an event it does not take (the point of the typed routes)."""

from __future__ import annotations

from pathlib import Path

from mypy import api

REPO = Path(__file__).resolve().parents[3]

SNIPPET = """
from shared.db.pool import Tx
from shared.events.gateway import JobCancelRequested, JobSubmitted
from shared.events.ingest import UsageBatchRecorded, UsageRecorded
from shared.messaging.routes import Route, batch_route, use_case_route


async def on_submitted(tx: Tx, event: JobSubmitted) -> None: ...
async def on_usage(tx: Tx, events: list[UsageRecorded | UsageBatchRecorded]) -> None: ...
async def on_records(tx: Tx, events: list[UsageRecorded]) -> None: ...
async def submit(store: str, event: JobSubmitted) -> None: ...


fits = Route(JobSubmitted, on_submitted)
fits_batch = batch_route(UsageRecorded, UsageBatchRecorded, handler=on_usage)
fits_use_case = use_case_route(JobSubmitted, str, submit)
wrong_event = Route(JobCancelRequested, on_submitted)  # line 17
wrong_batch = batch_route(UsageRecorded, UsageBatchRecorded, handler=on_records)  # line 18
wrong_use_case = use_case_route(JobCancelRequested, str, submit)  # line 19
"""


def test_mypy_accepts_matching_routes_and_refuses_a_handler_for_another_event(tmp_path: Path) -> None:
    snippet = tmp_path / "routes_snippet.py"
    snippet.write_text(SNIPPET)

    report, errors, _ = api.run(
        [
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--no-error-summary",
            "--show-error-codes",
            str(snippet),
        ]
    )

    assert not errors
    lines = sorted({int(line.split(":")[1]) for line in report.splitlines() if ": error:" in line})
    assert lines == [17, 18, 19], report

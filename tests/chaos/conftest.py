"""The chaos runs' reports, printed at the end of the pytest run (they list the faults and the checks)."""

from __future__ import annotations

import pytest

from tests.chaos.report import ChaosReport

_REPORTS: list[ChaosReport] = []


@pytest.fixture
def chaos_reports() -> list[ChaosReport]:
    return _REPORTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _REPORTS:
        terminalreporter.section("chaos runs")
        for report in _REPORTS:
            terminalreporter.write_line(report.render())

"""A chaos run's report: the faults injected, in order, and each check with what it found."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.chaos.faults import Injected


@dataclass
class ChaosReport:
    seed: int
    faults: list[Injected] = field(default_factory=list)
    checks: list[tuple[str, list[str]]] = field(default_factory=list)
    jobs: int = 0
    allocations: int = 0
    retries: int = 0

    def check(self, what: str, problems: list[str]) -> None:
        self.checks.append((what, problems))

    @property
    def passed(self) -> bool:
        return bool(self.checks) and not any(problems for _, problems in self.checks)

    def render(self) -> str:
        lines = [
            f"chaos run, seed {self.seed}: {self.jobs} jobs, {self.allocations} allocations, "
            f"{self.retries} client calls retried on another gateway",
            "  faults (SIGKILL, then started again):",
        ]
        lines += [
            f"    t={f.at_s:6.1f}s  {f.fault.target:<11} {f.victim:<20} down {f.fault.down_s:.1f}s, "
            f"back at t={f.back_s:.1f}s"
            for f in self.faults
        ]
        lines.append("  checks:")
        for what, problems in self.checks:
            lines.append(f"    {'PASS' if not problems else 'FAIL'}  {what}")
            lines += [f"          {problem}" for problem in problems[:10]]
            if len(problems) > 10:
                lines.append(f"          ... and {len(problems) - 10} more")
        return "\n".join(lines)

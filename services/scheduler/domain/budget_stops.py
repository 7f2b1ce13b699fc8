"""Running work of an exhausted budget whose policy is to stop it: the cycle stops those jobs (they stop
and fail, like a job past its maximum runtime), beside whatever the policy engine decided."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from services.scheduler.domain.engine.model import Stop
from services.scheduler.domain.model import Actions


@dataclass(frozen=True)
class BudgetedJob:
    """A job holding GPUs, of a project or tenant whose exhausted budget stops running work."""

    job_id: str
    scope: str  # project | tenant
    scope_id: str


def budget_stops(jobs: Iterable[BudgetedJob]) -> tuple[Stop, ...]:
    # The engine's budget gate words its holds the same way, so both read alike on the job.
    return tuple(
        Stop(job.job_id, f"budget exhausted for {job.scope} {job.scope_id}; its budget stops running work")
        for job in jobs
    )


def with_stops(actions: Actions, stops: Iterable[Stop]) -> Actions:
    """The actions plus the stops of jobs they do not stop or preempt already."""
    taken = {s.job_id for s in actions.stops} | {p.job_id for p in actions.preemptions}
    extra = tuple(stop for stop in stops if stop.job_id not in taken)
    return replace(actions, stops=actions.stops + extra) if extra else actions

"""Running work of budgets exhausted with the policy to stop it (domain/budget_stops.py)."""

from __future__ import annotations

from services.scheduler.domain.budget_stops import BudgetedJob, budget_stops, with_stops
from services.scheduler.domain.engine.model import Preempt, Stop
from services.scheduler.domain.model import Actions


def test_each_budgeted_job_is_stopped_naming_its_scope() -> None:
    stops = budget_stops([BudgetedJob("j1", "project", "prj_a"), BudgetedJob("j2", "tenant", "tnt_a")])
    assert [(s.job_id, s.reason) for s in stops] == [
        ("j1", "budget exhausted for project prj_a; its budget stops running work"),
        ("j2", "budget exhausted for tenant tnt_a; its budget stops running work"),
    ]


def test_stops_are_added_only_for_jobs_the_engine_left_alone() -> None:
    engine = Actions(
        stops=(Stop("j1", "maximum runtime of 60 s exceeded"),), preemptions=(Preempt("j2", "x"),)
    )
    merged = with_stops(engine, budget_stops([BudgetedJob(j, "project", "p") for j in ("j1", "j2", "j3")]))
    assert [(s.job_id, s.reason.split(";")[0]) for s in merged.stops] == [
        ("j1", "maximum runtime of 60 s exceeded"),
        ("j3", "budget exhausted for project p"),
    ]
    assert merged.preemptions == engine.preemptions
    assert with_stops(engine, ()) is engine

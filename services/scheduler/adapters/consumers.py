"""The scheduler's durable consumers: which events, from which stream, to which use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

from services.scheduler.adapters.pg_budgets import PgBudgetFacts
from services.scheduler.adapters.pg_facts import PgFacts
from services.scheduler.app import budget_facts, facts
from services.scheduler.app.budget_facts import BudgetFacts
from services.scheduler.app.ports import FactStore
from shared.events.agent import Heartbeat, NodeRegistered, WorkloadExited, WorkloadStarted
from shared.events.gateway import JobCancelRequested, JobSubmitted, QuotaSet
from shared.events.metering import BudgetExhausted, BudgetRestored
from shared.events.priority_classes import PriorityClasses
from shared.messaging.routes import E, Route, use_case_route
from shared.messaging.specs import ConsumerSpec, consumer

BUDGETS_DURABLE = "scheduler-budgets"


def _on_facts(event_type: type[E], use_case: Callable[[FactStore, E], Awaitable[None]]) -> Route[E]:
    return use_case_route(event_type, PgFacts, use_case)


def _on_budgets(event_type: type[E], use_case: Callable[[BudgetFacts, E], Awaitable[None]]) -> Route[E]:
    return use_case_route(event_type, PgBudgetFacts, use_case)


def scheduler_consumers(max_deliveries: int, classes: PriorityClasses | None = None) -> list[ConsumerSpec]:
    """`classes`: the operator's priority classes, which turn a submitted job's class into its priority."""
    jobs = partial(PgFacts, classes=classes)
    return [
        # Submissions and cancellations on one durable, so a cancel never overtakes its job.
        consumer(
            "scheduler-jobs",
            use_case_route(JobSubmitted, jobs, facts.submit_job),
            _on_facts(JobCancelRequested, facts.cancel_job),
            max_deliveries=max_deliveries,
        ),
        consumer(
            "scheduler-quotas",
            _on_facts(QuotaSet, facts.set_quota),
            max_deliveries=max_deliveries,
            low_rate=True,
        ),
        consumer(
            "scheduler-registrations",
            _on_facts(NodeRegistered, facts.register_node),
            max_deliveries=max_deliveries,
            low_rate=True,
        ),
        consumer(
            "scheduler-heartbeats",
            _on_facts(Heartbeat, facts.record_heartbeat),
            max_deliveries=max_deliveries,
        ),
        consumer(
            "scheduler-workloads",
            _on_facts(WorkloadStarted, facts.workload_started),
            _on_facts(WorkloadExited, facts.workload_exited),
            max_deliveries=max_deliveries,
        ),
        # Exhausted and restored on one durable, so that they apply in the order metering decided them.
        consumer(
            BUDGETS_DURABLE,
            _on_budgets(BudgetExhausted, budget_facts.budget_exhausted),
            _on_budgets(BudgetRestored, budget_facts.budget_restored),
            max_deliveries=max_deliveries,
            low_rate=True,
        ),
    ]

"""The scheduler's durable consumers: which events, from which stream, to which use case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.scheduler.adapters.pg_budgets import PgBudgetFacts
from services.scheduler.adapters.pg_facts import PgFacts
from services.scheduler.app import budget_facts, facts
from services.scheduler.app.budget_facts import BudgetFacts
from services.scheduler.app.ports import FactStore
from shared.db.pool import Tx
from shared.events.agent import Heartbeat, NodeRegistered, WorkloadExited, WorkloadStarted
from shared.events.base import Event
from shared.events.gateway import JobCancelRequested, JobSubmitted, QuotaSet
from shared.events.metering import BudgetExhausted, BudgetRestored
from shared.messaging.consumer import ConsumerSpec, Handler
from shared.messaging.streams import AGENT, GATEWAY, METERING, StreamDef

UseCase = Callable[[FactStore, Any], Awaitable[None]]
BudgetUseCase = Callable[[BudgetFacts, Any], Awaitable[None]]
BUDGETS_DURABLE = "scheduler-budgets"


def family(event_type: type[Event]) -> str:
    """Every event beside this one in its subject family: gateway.v1.job.submitted -> gateway.v1.job.>."""
    return event_type.subject_filter().rsplit(".", 1)[0] + ".>"


def _on_facts(use_case: UseCase) -> Handler:
    async def handle(tx: Tx, event: Any) -> None:
        await use_case(PgFacts(tx), event)

    return handle


def _on_budgets(use_case: BudgetUseCase) -> Handler:
    async def handle(tx: Tx, event: Any) -> None:
        await use_case(PgBudgetFacts(tx), event)

    return handle


def scheduler_consumers(max_deliveries: int) -> list[ConsumerSpec]:
    specs: list[tuple[str, StreamDef, str, dict[type[Event], UseCase]]] = [
        (
            "scheduler-jobs",
            GATEWAY,
            family(JobSubmitted),
            {
                JobSubmitted: facts.submit_job,
                JobCancelRequested: facts.cancel_job,
            },
        ),
        ("scheduler-quotas", GATEWAY, QuotaSet.subject_filter(), {QuotaSet: facts.set_quota}),
        (
            "scheduler-registrations",
            AGENT,
            NodeRegistered.subject_filter(),
            {NodeRegistered: facts.register_node},
        ),
        ("scheduler-heartbeats", AGENT, Heartbeat.subject_filter(), {Heartbeat: facts.record_heartbeat}),
        (
            "scheduler-workloads",
            AGENT,
            family(WorkloadStarted),
            {
                WorkloadStarted: facts.workload_started,
                WorkloadExited: facts.workload_exited,
            },
        ),
    ]
    consumers = [
        ConsumerSpec(
            durable=durable,
            stream=stream,
            subject=subject,
            routes={event_type: _on_facts(use_case) for event_type, use_case in routes.items()},
            max_deliveries=max_deliveries,
        )
        for durable, stream, subject, routes in specs
    ]
    budget_routes: dict[type[Event], BudgetUseCase] = {
        BudgetExhausted: budget_facts.budget_exhausted,
        BudgetRestored: budget_facts.budget_restored,
    }
    # Exhausted and restored on one durable, so that they apply in the order metering decided them.
    consumers.append(
        ConsumerSpec(
            durable=BUDGETS_DURABLE,
            stream=METERING,
            subject="metering.v1.budget.*",
            routes={event_type: _on_budgets(use_case) for event_type, use_case in budget_routes.items()},
            max_deliveries=max_deliveries,
        )
    )
    return consumers

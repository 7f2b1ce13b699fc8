"""Ingest's durable consumers: each handler runs in the transaction that records the event as processed."""

from __future__ import annotations

from collections.abc import Sequence

from services.ingest.adapters.postgres import PgIngestStore
from services.ingest.app.bus import (
    RecordSample,
    record_bound,
    record_project,
    record_released,
    record_tenant,
)
from services.ingest.domain.errors import SampleRejected
from shared.db.pool import Tx
from shared.events.agent import UsageSampled
from shared.events.gateway import ProjectCreated, TenantCreated
from shared.events.scheduler import AllocationBound, AllocationReleased
from shared.messaging.consumer import ConsumerSpec, PermanentError
from shared.messaging.streams import AGENT, GATEWAY, SCHEDULER

USAGE_DURABLE = "ingest-usage"
ALLOCATIONS_DURABLE = "ingest-allocations"
TENANTS_DURABLE = "ingest-tenants"


def ingest_consumers(record_sample: RecordSample, max_deliveries: int) -> Sequence[ConsumerSpec]:
    async def on_sample(tx: Tx, event: UsageSampled) -> None:
        try:
            await record_sample(PgIngestStore(tx), event)
        except SampleRejected as error:
            raise PermanentError(str(error)) from error

    async def on_bound(tx: Tx, event: AllocationBound) -> None:
        await record_bound(PgIngestStore(tx), event)

    async def on_released(tx: Tx, event: AllocationReleased) -> None:
        await record_released(PgIngestStore(tx), event)

    async def on_tenant(tx: Tx, event: TenantCreated) -> None:
        await record_tenant(PgIngestStore(tx), event)

    async def on_project(tx: Tx, event: ProjectCreated) -> None:
        await record_project(PgIngestStore(tx), event)

    return [
        ConsumerSpec(
            durable=USAGE_DURABLE,
            stream=AGENT,
            subject=UsageSampled.subject_filter(),
            routes={UsageSampled: on_sample},
            max_deliveries=max_deliveries,
        ),
        ConsumerSpec(
            durable=ALLOCATIONS_DURABLE,
            stream=SCHEDULER,
            subject="scheduler.v1.allocation.>",
            routes={AllocationBound: on_bound, AllocationReleased: on_released},
            max_deliveries=max_deliveries,
        ),
        # Tenants and projects share one durable (one filter subject), routed by event type.
        ConsumerSpec(
            durable=TENANTS_DURABLE,
            stream=GATEWAY,
            subject="gateway.v1.*.created",
            routes={TenantCreated: on_tenant, ProjectCreated: on_project},
            max_deliveries=max_deliveries,
        ),
    ]

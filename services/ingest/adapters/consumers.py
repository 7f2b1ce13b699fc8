"""Ingest's durable consumers: each handler runs in the transaction that records the event as processed.

Agent samples, by far the most numerous, go through the batch consumer: one transaction per batch, a
refused sample dead-lettered with its reason in that transaction while the rest go on, and the records
published straight to JetStream before commit (adapters/direct_publish.py), not through the outbox."""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext

from services.ingest.adapters.direct_publish import PublishingIngestStore
from services.ingest.adapters.postgres import PgIngestStore
from services.ingest.app.bus import (
    RecordSamples,
    record_bound,
    record_project,
    record_released,
    record_tenant,
)
from shared.db.pool import Tx
from shared.events.agent import UsageSampled
from shared.events.gateway import ProjectCreated, TenantCreated
from shared.events.scheduler import AllocationBound, AllocationReleased
from shared.messaging.batch_consumer import BatchConsumerSpec
from shared.messaging.consumer import ConsumerSpec
from shared.messaging.streams import AGENT, GATEWAY, SCHEDULER

USAGE_DURABLE = "ingest-usage"
ALLOCATIONS_DURABLE = "ingest-allocations"
TENANTS_DURABLE = "ingest-tenants"


def sample_consumer(
    record_samples: RecordSamples, js: JetStreamContext, max_deliveries: int, batch_size: int
) -> BatchConsumerSpec:
    async def on_samples(tx: Tx, samples: list[UsageSampled]) -> None:
        store = PublishingIngestStore(tx, js)
        outcome = await record_samples(store, samples)
        for sample, reason in outcome.rejected:
            body = sample.model_dump_json().encode()
            await store.dead_letter(
                USAGE_DURABLE, sample.subject(), body, sample.headers(), f"rejected: {reason}"
            )

    return BatchConsumerSpec(
        durable=USAGE_DURABLE,
        stream=AGENT,
        subject=UsageSampled.subject_filter(),
        event_types=(UsageSampled,),
        handler=on_samples,
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        dedupe_by_event_id=False,  # RecordSamples claims each sample's natural key, whatever its event id
    )


def ingest_consumers(max_deliveries: int) -> Sequence[ConsumerSpec]:
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

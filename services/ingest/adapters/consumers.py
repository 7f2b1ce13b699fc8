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
from shared.messaging.routes import batch_route, use_case_route
from shared.messaging.specs import BatchConsumerSpec, ConsumerSpec, consumer

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

    return consumer(
        USAGE_DURABLE,
        batch_route(UsageSampled, handler=on_samples),
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        dedupe_by_event_id=False,  # RecordSamples claims each sample's natural key, whatever its event id
    )


def ingest_consumers(max_deliveries: int) -> Sequence[ConsumerSpec]:
    return [
        consumer(
            ALLOCATIONS_DURABLE,
            use_case_route(AllocationBound, PgIngestStore, record_bound),
            use_case_route(AllocationReleased, PgIngestStore, record_released),
            max_deliveries=max_deliveries,
        ),
        # Tenants and projects share one durable, routed by event type.
        consumer(
            TENANTS_DURABLE,
            use_case_route(TenantCreated, PgIngestStore, record_tenant),
            use_case_route(ProjectCreated, PgIngestStore, record_project),
            max_deliveries=max_deliveries,
            low_rate=True,
        ),
    ]

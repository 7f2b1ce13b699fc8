"""Use cases for what ingest hears on the bus: agent samples, allocation intervals, tenants and projects."""

from __future__ import annotations

from services.ingest.app.ports import IngestStore
from services.ingest.domain.allocations import holder_at
from services.ingest.domain.errors import SampleRejected
from services.ingest.domain.records import sample_record
from services.ingest.domain.time_window import TimeLimits, time_problem
from shared.clock import Clock
from shared.events.agent import UsageSampled
from shared.events.gateway import ProjectCreated, TenantCreated
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationBound, AllocationReleased


class RecordSample:
    """Validate, deduplicate and enrich one agent sample into a UsageRecorded.

    Enrichment race (accepted for now): a sample that arrives before the AllocationBound of the
    allocation it belongs to is recorded as idle usage; the scheduler's allocation intervals stay the
    billing basis for GPU time, so only that sample's utilization and energy are misattributed.
    """

    def __init__(self, clock: Clock, limits: TimeLimits) -> None:
        self._clock = clock
        self._limits = limits

    async def __call__(self, store: IngestStore, sample: UsageSampled) -> UsageRecorded | None:
        """The record emitted, or None for a duplicate. Raises SampleRejected for an unacceptable sample."""
        # 1. Validate what the contract cannot: the sample's time against our clock.
        if (problem := time_problem(sample.occurred_at, self._clock.now(), self._limits)) is not None:
            raise SampleRejected(f"sample from node {sample.node_id} GPU {sample.gpu_uuid}: {problem}")
        # 2. Deduplicate on the natural key: an agent retrying after a crash may mint a new event id.
        claimed = await store.claim_sample_key(
            sample.node_id, sample.gpu_uuid, sample.occurred_at, sample.event_id
        )
        if not claimed:
            return None
        # 3. Enrich from the allocation that held the GPU then (or none: idle usage), and emit.
        holder = holder_at(
            await store.intervals_on_gpu(sample.gpu_uuid, sample.occurred_at), sample.occurred_at
        )
        record = sample_record(sample, holder)
        await store.emit(record)
        return record


async def record_bound(store: IngestStore, event: AllocationBound) -> None:
    await store.save_bound(event)


async def record_released(store: IngestStore, event: AllocationReleased) -> None:
    await store.save_released(event)


async def record_tenant(store: IngestStore, event: TenantCreated) -> None:
    await store.save_tenant(event.tenant_id, event.name)


async def record_project(store: IngestStore, event: ProjectCreated) -> None:
    await store.save_project(event.tenant_id, event.project_id, event.name)

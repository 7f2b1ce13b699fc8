"""Use cases for what ingest hears on the bus: agent samples, allocation intervals, tenants and projects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from services.ingest.app.ports import IngestStore
from services.ingest.domain.allocations import AllocationInterval, holders_at, unsettled
from services.ingest.domain.records import sample_records
from services.ingest.domain.time_window import TimeLimits, time_problem
from shared.clock import Clock
from shared.events.agent import UsageSampled
from shared.events.gateway import ProjectCreated, TenantCreated
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationBound, AllocationReleased


@dataclass(frozen=True)
class SamplesOutcome:
    recorded: list[UsageRecorded]  # in the samples' order
    duplicates: int  # natural keys already recorded (an agent retrying under a new event id)
    rejected: list[tuple[UsageSampled, str]]  # each with the reason, for the dead-letter record


class RecordSamples:
    """Validate, deduplicate and enrich a batch of agent samples into UsageRecorded events, in the
    consumer's one transaction: a few statements per batch, whatever its size.

    Enrichment race (accepted for now): a sample that arrives before the AllocationBound of the
    allocation it belongs to is recorded as idle usage; the scheduler's allocation intervals stay the
    billing basis for GPU time, so only that sample's utilization and energy are misattributed.
    """

    def __init__(self, clock: Clock, limits: TimeLimits) -> None:
        self._clock = clock
        self._limits = limits

    async def __call__(self, store: IngestStore, samples: Sequence[UsageSampled]) -> SamplesOutcome:
        # 1. Validate what the contract cannot: each sample's time against our clock.
        now = self._clock.now()
        accepted: list[UsageSampled] = []
        rejected: list[tuple[UsageSampled, str]] = []
        for sample in samples:
            if (problem := time_problem(sample.occurred_at, now, self._limits)) is not None:
                rejected.append(
                    (sample, f"sample from node {sample.node_id} GPU {sample.gpu_uuid}: {problem}")
                )
            else:
                accepted.append(sample)
        if not accepted:
            return SamplesOutcome([], 0, rejected)
        # 2. Deduplicate on the natural key: an agent retrying after a crash may mint a new event id.
        claimed = set(await store.claim_sample_keys(accepted))
        fresh: list[UsageSampled] = []
        for sample in accepted:
            if sample.event_id in claimed:
                claimed.discard(sample.event_id)  # the same message twice in one batch counts once
                fresh.append(sample)
        # 3. Enrich from the allocation that held each GPU then (or none: idle usage), and emit; a sample
        #    that may lie past an allocation's unheard release waits for it.
        records = await attribute(store, fresh)
        await store.emit_all(records)
        return SamplesOutcome(records, len(accepted) - len(fresh), rejected)


async def attribute(store: IngestStore, samples: Sequence[UsageSampled]) -> list[UsageRecorded]:
    """The records of the samples that can be attributed now, by each sample's time against the
    allocation intervals on its GPU; the others are held back until the releases they wait for
    (allocations.unsettled)."""
    if not samples:
        return []
    by_gpu: dict[str, list[AllocationInterval]] = defaultdict(list)
    times = [sample.occurred_at for sample in samples]
    gpus = {sample.gpu_uuid for sample in samples}
    for interval in await store.intervals_on_gpus(gpus, min(times), max(times)):
        by_gpu[interval.gpu_uuid].append(interval)
    records: list[UsageRecorded] = []
    holds: list[tuple[UsageSampled, list[str]]] = []
    for sample in samples:
        holders = holders_at(by_gpu.get(sample.gpu_uuid, ()), sample.occurred_at)
        if waiting_for := unsettled(holders, sample.allocation_ids):
            holds.append((sample, waiting_for))
        else:
            records.extend(sample_records(sample, holders))
    if holds:  # one statement for the batch: a lost release can hold every sample of a node's GPUs
        await store.hold_samples(holds)
    return records


async def record_bound(store: IngestStore, event: AllocationBound) -> None:
    await store.save_bound(event)


async def record_released(store: IngestStore, event: AllocationReleased) -> None:
    """Close the interval, then attribute the samples that waited for this release."""
    await store.save_released(event)
    await store.emit_all(await attribute(store, await store.take_held_samples(event.allocation_id)))


async def record_tenant(store: IngestStore, event: TenantCreated) -> None:
    await store.save_tenant(event.tenant_id, event.name)


async def record_project(store: IngestStore, event: ProjectCreated) -> None:
    await store.save_project(event.tenant_id, event.project_id, event.name)

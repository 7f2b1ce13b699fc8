"""How accepted usage becomes a UsageRecorded event.

A sample for a GPU that no allocation held at the sample's time is idle usage: it is still recorded,
under the pseudo tenant "_fleet" and project "_idle", so that idle energy is metered for showback.

A sample's record has an event id derived from the sample's natural key (node, GPU, instant): ingest
publishes it before its transaction commits, so a redelivery after a crash republishes the same id, which
metering (its raw usage table's unique event id) drops, whichever sample copy it came from. Sample records
travel many to a message (UsageBatchRecorded, record_batches); JetStream drops a batch resent whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from uuid import UUID, uuid5

from services.ingest.domain.allocations import WHOLE, AllocationInterval
from shared.events.agent import UsageSampled
from shared.events.ingest import UsageBatchRecorded, UsageRecorded

IDLE_TENANT = "_fleet"
IDLE_PROJECT = "_idle"
SOURCE_AGENT = "agent"
SOURCE_EXTERNAL = "external"
# The namespace of sample records' event ids (fixed: changing it would let a redelivery count twice).
SAMPLE_RECORD_NAMESPACE = UUID("5b0c7a52-3d5e-4c1f-9a4e-0f6f1d2c8e71")
RECORD_BATCH_NAMESPACE = UUID("0d9e2f7a-8b41-4c55-b1f3-6a2d94c7e013")
# About 450 bytes of JSON a record: a batch stays well under NATS's default 1 MiB payload limit.
RECORDS_PER_BATCH = 1000


@dataclass(frozen=True)
class ExternalUsage:
    """One validated external usage report (from a CloudEvent), before the tenant check."""

    source: str
    event_id: str
    time: datetime
    tenant_id: str
    project_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    model_name: str | None = None
    job_id: str | None = None

    @property
    def source_event_id(self) -> str:
        return f"{self.source}/{self.event_id}"


def sample_records(
    sample: UsageSampled, holders: Sequence[tuple[AllocationInterval | None, Decimal]]
) -> list[UsageRecorded]:
    """The records of one agent sample: one per holder of the GPU (allocations.holders_at), each with its
    share of the sample's energy (exact: the parts add up to the whole)."""
    if len(holders) == 1:
        return [sample_record(sample, holders[0][0])]
    return [sample_record(sample, holder, share) for holder, share in holders]


def sample_record(
    sample: UsageSampled, holder: AllocationInterval | None, share: Decimal = WHOLE
) -> UsageRecorded:
    """The record of one agent sample, attributed to the allocation that held the GPU (or to idle); of a
    GPU shared by fractional allocations, the record of the holder's share (its id and source id name the
    holder: one sample, several records)."""
    part = "" if share == WHOLE else f"/{holder.allocation_id if holder else IDLE_PROJECT}"
    # Through str so the Decimal is the float's shortest repr (0.1 -> 0.1, not 0.1000000000000000055...).
    energy = Decimal(str(sample.energy_j))
    return UsageRecorded(
        event_id=sample_record_id(sample, part),
        occurred_at=sample.occurred_at,
        tenant_id=holder.tenant_id if holder else IDLE_TENANT,
        project_id=holder.project_id if holder else IDLE_PROJECT,
        job_id=holder.job_id if holder else None,
        source=SOURCE_AGENT,
        source_event_id=f"{sample.event_id}{part}",
        window_start=sample.occurred_at - timedelta(seconds=sample.window_s),
        window_end=sample.occurred_at,
        node_id=sample.node_id,
        gpu_uuid=sample.gpu_uuid,
        gpu_model=sample.gpu_model,
        gpu_utilization_pct=sample.utilization_pct,
        memory_used_mib=sample.memory_used_mib,
        energy_j=energy if share == WHOLE else energy * share,
        gpu_share=share,
    )


def sample_record_id(sample: UsageSampled, part: str = "") -> UUID:
    """The same for every copy of a sample: the key ingest dedupes samples on, the instant in UTC (and,
    for a share of a shared GPU, its holder)."""
    return uuid5(
        SAMPLE_RECORD_NAMESPACE,
        f"{sample.node_id}/{sample.gpu_uuid}/{_utc_instant(sample.occurred_at)}{part}",
    )


@lru_cache(maxsize=4096)  # a fleet's samples share few instants (every GPU is sampled at each tick)
def _utc_instant(at: datetime) -> str:
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


def record_batches(
    records: Sequence[UsageRecorded], per_batch: int = RECORDS_PER_BATCH
) -> list[UsageBatchRecorded]:
    """The records in order, `per_batch` to a message. A batch's id is derived from its records' ids, so
    that the same records resent together (a redelivery after a crash) are dropped by JetStream."""
    batches = []
    for start in range(0, len(records), per_batch):
        chunk = list(records[start : start + per_batch])
        batch_id = uuid5(RECORD_BATCH_NAMESPACE, "".join(record.event_id.hex for record in chunk))
        occurred_at = max(record.occurred_at for record in chunk)
        batches.append(UsageBatchRecorded(event_id=batch_id, occurred_at=occurred_at, records=chunk))
    return batches


def external_record(usage: ExternalUsage) -> UsageRecorded:
    """The record of one external usage report: a point in time, so the window is empty."""
    return UsageRecorded(
        occurred_at=usage.time,
        tenant_id=usage.tenant_id,
        project_id=usage.project_id,
        job_id=usage.job_id,
        source=SOURCE_EXTERNAL,
        source_event_id=usage.source_event_id,
        window_start=usage.time,
        window_end=usage.time,
        requests=usage.requests,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        model_name=usage.model_name,
    )

"""How accepted usage becomes a UsageRecorded event.

A sample for a GPU that no allocation held at the sample's time is idle usage: it is still recorded,
under the pseudo tenant "_fleet" and project "_idle", so that idle energy is metered for showback.

A sample's record has an event id derived from the sample's natural key (node, GPU, instant): ingest
publishes it before its transaction commits, so a redelivery after a crash republishes the same id, which
JetStream (Nats-Msg-Id) and metering (processed events) both drop, whichever sample copy it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

from services.ingest.domain.allocations import AllocationInterval
from shared.events.agent import UsageSampled
from shared.events.ingest import UsageRecorded

IDLE_TENANT = "_fleet"
IDLE_PROJECT = "_idle"
SOURCE_AGENT = "agent"
SOURCE_EXTERNAL = "external"
# The namespace of sample records' event ids (fixed: changing it would let a redelivery count twice).
SAMPLE_RECORD_NAMESPACE = UUID("5b0c7a52-3d5e-4c1f-9a4e-0f6f1d2c8e71")


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


def sample_record(sample: UsageSampled, holder: AllocationInterval | None) -> UsageRecorded:
    """The record of one agent sample, attributed to the allocation that held the GPU (or to idle)."""
    return UsageRecorded(
        event_id=sample_record_id(sample),
        occurred_at=sample.occurred_at,
        tenant_id=holder.tenant_id if holder else IDLE_TENANT,
        project_id=holder.project_id if holder else IDLE_PROJECT,
        job_id=holder.job_id if holder else None,
        source=SOURCE_AGENT,
        source_event_id=str(sample.event_id),
        window_start=sample.occurred_at - timedelta(seconds=sample.window_s),
        window_end=sample.occurred_at,
        node_id=sample.node_id,
        gpu_uuid=sample.gpu_uuid,
        gpu_model=sample.gpu_model,
        gpu_utilization_pct=sample.utilization_pct,
        memory_used_mib=sample.memory_used_mib,
        # Through str so the Decimal is the float's shortest repr (0.1 -> 0.1, not 0.1000000000000000055...).
        energy_j=Decimal(str(sample.energy_j)),
    )


def sample_record_id(sample: UsageSampled) -> UUID:
    """The same for every copy of a sample: the key ingest dedupes samples on, the instant in UTC."""
    at = sample.occurred_at
    instant = (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()
    return uuid5(SAMPLE_RECORD_NAMESPACE, f"{sample.node_id}/{sample.gpu_uuid}/{instant}")


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

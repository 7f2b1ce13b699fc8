"""Events ingest emits (stream INGEST): validated, deduplicated, enriched usage."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from shared.events.base import Event
from shared.events.jobs import WHOLE_GPU_SHARE, GpuShare


class UsageRecorded(Event):
    PRODUCER: ClassVar[str] = "ingest"
    TYPE: ClassVar[str] = "ingest.v1.usage.recorded"
    SUBJECT: ClassVar[str] = TYPE
    ENTITY_FIELD: ClassVar[str | None] = "source_event_id"

    tenant_id: str
    project_id: str
    source: str  # agent | external
    source_event_id: str
    window_start: datetime
    window_end: datetime
    job_id: str | None = None
    node_id: str | None = None
    gpu_uuid: str | None = None
    gpu_model: str | None = None
    gpu_utilization_pct: float | None = Field(default=None, ge=0, le=100)
    memory_used_mib: int | None = Field(default=None, ge=0)
    energy_j: Decimal = Field(default=Decimal(0), ge=0)
    requests: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    model_name: str | None = None
    # The share of the GPU this record stands for: a sample of a GPU that fractional allocations share
    # is split among them by their shares (energy included), the rest idle (absent: the whole GPU).
    gpu_share: GpuShare = WHOLE_GPU_SHARE


class UsageBatchRecorded(Event):
    """Many agent-sample records in one message: at thousands of samples a second, a message (and an
    ack, a parse, a dedupe row) per record cost more than the records. Each record keeps its own id, by
    which metering keeps it once whatever batch carries it; the batch's id only spares JetStream an
    identical resend."""

    PRODUCER: ClassVar[str] = "ingest"
    TYPE: ClassVar[str] = "ingest.v1.usage.batch_recorded"
    SUBJECT: ClassVar[str] = TYPE

    records: list[UsageRecorded] = Field(min_length=1)

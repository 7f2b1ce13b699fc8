"""Usage records, allocations and billing set-ups for the usage pipeline's tests (unit and integration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.usage.domain.batch_rating import TenantBilling
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def sample(
    end: datetime = T0,
    *,
    tenant_id: str = "acme",
    project_id: str = "p1",
    gpu_model: str = "H100",
    utilization: float | None = 50.0,
    energy_j: str = "1000",
    window_s: float = 60,
    **fields: Any,
) -> UsageRecorded:
    """An agent sample as ingest records it."""
    event_id = uuid.uuid4()
    values: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": end,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "source": "agent",
        "source_event_id": str(event_id),
        "window_start": end - timedelta(seconds=window_s),
        "window_end": end,
        "node_id": "node-1",
        "gpu_uuid": "GPU-1",
        "gpu_model": gpu_model,
        "gpu_utilization_pct": utilization,
        "memory_used_mib": 1000,
        "energy_j": Decimal(energy_j),
    }
    return UsageRecorded(**(values | fields))


def inference(
    at: datetime = T0,
    *,
    tenant_id: str = "acme",
    project_id: str = "p1",
    requests: int = 1,
    input_tokens: int = 0,
    output_tokens: int = 0,
    **fields: Any,
) -> UsageRecorded:
    """External usage (a point in time) as ingest records it."""
    values: dict[str, Any] = {
        "occurred_at": at,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "source": "external",
        "source_event_id": f"llm/{uuid.uuid4().hex}",
        "window_start": at,
        "window_end": at,
        "requests": requests,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "model_name": "llama",
    }
    return UsageRecorded(**(values | fields))


def released(
    seconds: float,
    *,
    end: datetime = T0,
    tenant_id: str = "acme",
    project_id: str = "p1",
    gpu_model: str = "H100",
    gpu_count: int = 1,
    gpu_share: str = "1",
) -> AllocationReleased:
    return AllocationReleased(
        occurred_at=end,
        tenant_id=tenant_id,
        project_id=project_id,
        job_id=f"job-{uuid.uuid4().hex[:8]}",
        allocation_id=f"alloc-{uuid.uuid4().hex[:8]}",
        node_id="node-1",
        gpu_model=gpu_model,
        gpu_count=gpu_count,
        gpu_share=Decimal(gpu_share),
        bound_at=end - timedelta(seconds=seconds),
        released_at=end,
        reason="succeeded",
        epoch=1,
    )


def book(
    tenant_id: str = "acme",
    *,
    effective_from: datetime = T0 - timedelta(days=30),
    per_kwh: str = "0.20",
    per_1k_tokens: str = "0.002",
    per_request: str = "0.01",
    gpu_hour: str = "2.50",
    currency: str = "USD",
) -> PriceBook:
    return PriceBook(
        tenant_id=tenant_id,
        currency=currency,
        effective_from=effective_from,
        gpu_hour={"H100": Decimal(gpu_hour)},
        per_1k_tokens=Decimal(per_1k_tokens),
        per_request=Decimal(per_request),
        per_kwh=Decimal(per_kwh),
    )


def billing(
    tenant_id: str = "acme",
    books: tuple[PriceBook, ...] | None = None,
    finalized: frozenset[str] = frozenset(),
) -> TenantBilling:
    return TenantBilling(
        tenant_id=tenant_id,
        currency="USD",
        books=books if books is not None else (book(tenant_id),),
        finalized=finalized,
    )

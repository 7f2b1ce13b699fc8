"""Test data for metering: events and domain inputs with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from services.metering.invoicing.domain.price_books import PriceBook
from services.metering.invoicing.domain.rating import AllocationInterval, UsageWindow
from shared.events.gateway import InvoiceFinalizeRequested, PriceBookSet, TenantCreated
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def at(seconds: float = 0, base: datetime = T0) -> datetime:
    return base + timedelta(seconds=seconds)


def price_book(
    tenant_id: str = "acme",
    currency: str = "USD",
    effective_from: datetime = at(-86_400),
    gpu_hour: dict[str, str] | None = None,
    per_1k_tokens: str = "0",
    per_request: str = "0",
    per_kwh: str = "0",
) -> PriceBook:
    prices = {"H100": "2.50"} if gpu_hour is None else gpu_hour
    return PriceBook(
        tenant_id=tenant_id,
        currency=currency,
        effective_from=effective_from,
        gpu_hour={model: Decimal(price) for model, price in prices.items()},
        per_1k_tokens=Decimal(per_1k_tokens),
        per_request=Decimal(per_request),
        per_kwh=Decimal(per_kwh),
    )


def interval(
    seconds: float,
    *,
    tenant_id: str = "acme",
    project_id: str = "p1",
    gpu_model: str = "H100",
    gpu_count: int = 1,
    bound_at: datetime = T0,
    allocation_id: str | None = None,
) -> AllocationInterval:
    return AllocationInterval(
        source_event_id=uuid4(),
        tenant_id=tenant_id,
        project_id=project_id,
        allocation_id=allocation_id or f"alloc-{uuid4().hex[:8]}",
        gpu_model=gpu_model,
        gpu_count=gpu_count,
        bound_at=bound_at,
        released_at=bound_at + timedelta(seconds=seconds),
    )


def usage_window(
    *,
    tenant_id: str = "acme",
    project_id: str = "p1",
    energy_j: str = "0",
    requests: int = 0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    start: datetime = T0,
) -> UsageWindow:
    return UsageWindow(
        source_event_id=uuid4(),
        tenant_id=tenant_id,
        project_id=project_id,
        source="external",
        source_id=uuid4().hex,
        window_start=start,
        window_end=start + timedelta(seconds=60),
        energy_j=Decimal(energy_j),
        requests=requests,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def tenant_created(
    tenant_id: str = "acme", currency: str = "USD", occurred_at: datetime = at(-90_000)
) -> TenantCreated:
    return TenantCreated(
        occurred_at=occurred_at, tenant_id=tenant_id, name=f"{tenant_id} inc", currency=currency
    )


def price_book_set(
    tenant_id: str = "acme",
    currency: str = "USD",
    gpu_hour: dict[str, str] | None = None,
    occurred_at: datetime = at(-86_400),
    per_1k_tokens: str = "0",
    per_request: str = "0",
    per_kwh: str = "0",
) -> PriceBookSet:
    prices = {"H100": "2.50"} if gpu_hour is None else gpu_hour
    return PriceBookSet(
        occurred_at=occurred_at,
        tenant_id=tenant_id,
        currency=currency,
        gpu_hour={model: Decimal(price) for model, price in prices.items()},
        per_1k_tokens=Decimal(per_1k_tokens),
        per_request=Decimal(per_request),
        per_kwh=Decimal(per_kwh),
    )


def allocation_released(
    seconds: float,
    *,
    tenant_id: str = "acme",
    project_id: str = "p1",
    gpu_model: str = "H100",
    gpu_count: int = 1,
    bound_at: datetime = T0,
) -> AllocationReleased:
    return AllocationReleased(
        occurred_at=bound_at + timedelta(seconds=seconds),
        tenant_id=tenant_id,
        project_id=project_id,
        job_id=f"job-{uuid4().hex[:8]}",
        allocation_id=f"alloc-{uuid4().hex[:8]}",
        node_id="node-1",
        gpu_model=gpu_model,
        gpu_count=gpu_count,
        bound_at=bound_at,
        released_at=bound_at + timedelta(seconds=seconds),
        reason="succeeded",
        epoch=1,
    )


def usage_recorded(
    *,
    tenant_id: str = "acme",
    project_id: str = "p1",
    energy_j: str = "0",
    requests: int = 0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    start: datetime = T0,
) -> UsageRecorded:
    return UsageRecorded(
        occurred_at=start + timedelta(seconds=60),
        tenant_id=tenant_id,
        project_id=project_id,
        source="external",
        source_event_id=uuid4().hex,
        window_start=start,
        window_end=start + timedelta(seconds=60),
        energy_j=Decimal(energy_j),
        requests=requests,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def finalize_requested(period: str, tenant_id: str = "acme") -> InvoiceFinalizeRequested:
    return InvoiceFinalizeRequested(occurred_at=at(86_400 * 30), tenant_id=tenant_id, period=period)

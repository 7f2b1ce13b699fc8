"""Test data for ingest: agent samples, allocation events, tenants, CloudEvents (shared by unit and integration)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shared.events.agent import UsageSampled
from shared.events.gateway import ProjectCreated, TenantCreated
from shared.events.scheduler import AllocationBound, AllocationReleased

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sample(
    at: datetime = T0, *, node_id: str = "node-1", gpu_uuid: str = "GPU-1", **fields: Any
) -> UsageSampled:
    values: dict[str, Any] = {
        "occurred_at": at,
        "node_id": node_id,
        "gpu_uuid": gpu_uuid,
        "gpu_model": "H100",
        "window_s": 10.0,
        "utilization_pct": 87.5,
        "memory_used_mib": 40_000,
        "power_w": 500.0,
        "energy_j": 5000.1,
    }
    return UsageSampled(**(values | fields))


def bound(
    bound_at: datetime = T0 - timedelta(minutes=5),
    *,
    allocation_id: str = "alloc-1",
    gpu_uuids: tuple[str, ...] = ("GPU-1",),
    tenant_id: str = "acme",
    project_id: str = "vision",
    job_id: str = "job-1",
    gpu_share: str = "1",
) -> AllocationBound:
    return AllocationBound(
        occurred_at=bound_at,
        tenant_id=tenant_id,
        project_id=project_id,
        job_id=job_id,
        allocation_id=allocation_id,
        replica=0,
        node_id="node-1",
        gpu_model="H100",
        gpu_uuids=list(gpu_uuids),
        gpu_share=Decimal(gpu_share),
        bound_at=bound_at,
        epoch=1,
    )


def released(event: AllocationBound, released_at: datetime) -> AllocationReleased:
    return AllocationReleased(
        occurred_at=released_at,
        tenant_id=event.tenant_id,
        project_id=event.project_id,
        job_id=event.job_id,
        allocation_id=event.allocation_id,
        node_id=event.node_id,
        gpu_model=event.gpu_model,
        gpu_count=len(event.gpu_uuids),
        bound_at=event.bound_at,
        released_at=released_at,
        reason="succeeded",
        epoch=event.epoch,
    )


def tenant(tenant_id: str = "acme", at: datetime = T0) -> TenantCreated:
    return TenantCreated(occurred_at=at, tenant_id=tenant_id, name=tenant_id.title())


def project(tenant_id: str = "acme", project_id: str = "vision", at: datetime = T0) -> ProjectCreated:
    return ProjectCreated(occurred_at=at, tenant_id=tenant_id, project_id=project_id, name=project_id.title())


def cloud_event(
    at: datetime = T0, *, event_id: str = "evt-1", source: str = "/inference/gw-1", **data: Any
) -> dict[str, Any]:
    """A valid usage CloudEvent (structured mode); `data` overrides or adds data fields (None removes one)."""
    payload: dict[str, Any] = {
        "tenant_id": "acme",
        "project_id": "vision",
        "requests": 3,
        "input_tokens": 1200,
        "output_tokens": 800,
        "model_name": "llama-3-70b",
    }
    payload.update(data)
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": "io.aifactory.usage.inference",
        "time": at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {key: value for key, value in payload.items() if value is not None},
    }

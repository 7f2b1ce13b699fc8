"""Fractional GPUs through the running factory: two half-GPU jobs time-slice one GPU as real processes,
a third goes to another GPU, and the invoice and usage rollups count seconds x 0.5."""

from __future__ import annotations

import asyncio
import math
import sys
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import httpx

from services.cli.crosscheck import expected_gpu_lines, invoice_gpu_lines, read_events
from shared.client.gateway import GatewayClient
from shared.events.scheduler import AllocationBound, AllocationReleased
from shared.infra.launcher import Factory
from tests.e2e.conftest import Tenant, wait_for_state, wait_until

E = TypeVar("E", AllocationBound, AllocationReleased)
HALF = Decimal("0.5")
# One GPU-second costs exactly 1 USD, so a half share's half GPU-seconds show in cents, unrounded.
GPU_HOUR_PRICE = Decimal(3600)


def halves_tenant(operator: GatewayClient) -> tuple[Tenant, str]:
    tenant = operator.create_tenant("halves", "USD")
    operator.set_price_book(
        tenant["tenant_id"],
        {"currency": "USD", "gpu_hour": {"A100": str(GPU_HOUR_PRICE)}, "per_1k_tokens": "0", "per_request": "0",
         "per_kwh": "0"},
    )  # fmt: skip
    client = operator.with_key(tenant["admin_key"])
    project = client.create_project("inference")
    operator.set_quotas(project["project_id"], {"A100": 2})
    return Tenant(tenant["tenant_id"], project["project_id"], client), tenant["admin_key"]


def half_gpu_job(name: str, seen: Path) -> dict[str, object]:
    """Writes the GPU and share it was given, then serves for a while."""
    code = (
        "import os, time; "
        f"open({str(seen)!r}, 'w').write(os.environ['CUDA_VISIBLE_DEVICES'] + '|' + os.environ['AIFACTORY_GPU_SHARE']); "
        "time.sleep(3)"
    )
    return {"name": name, "kind": "training", "gpu_fraction": "0.5", "command": [sys.executable, "-c", code]}


def events_of(factory: Factory, event_type: type[E], tenant_id: str) -> list[E]:
    return [e for e in asyncio.run(read_events(factory.nats_url, event_type)) if e.tenant_id == tenant_id]


def test_two_half_gpu_jobs_share_a_gpu_and_are_billed_half_their_seconds(
    factory: Factory, operator: GatewayClient
) -> None:
    out = factory.share_dir / f"fractional-{uuid.uuid4().hex}"  # workloads write only where shared
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    tenant, key = halves_tenant(operator)

    # 1. Two halves run at once; a third, submitted while they run, cannot join their full GPU.
    first, second = (tenant.client.submit(tenant.project_id, half_gpu_job(n, out / n)) for n in "ab")
    for job in (first, second):
        wait_for_state(tenant, job["job_id"], {"running"})
    third = tenant.client.submit(tenant.project_id, half_gpu_job("c", out / "c"))
    for job in (first, second, third):
        wait_for_state(tenant, job["job_id"], {"succeeded"})

    bound = {e.job_id: e for e in events_of(factory, AllocationBound, tenant.tenant_id)}
    a, b, c = (bound[job["job_id"]] for job in (first, second, third))
    assert (a.node_id, a.gpu_uuids) == (b.node_id, b.gpu_uuids) and len(a.gpu_uuids) == 1
    assert c.gpu_uuids != a.gpu_uuids
    assert a.gpu_share == b.gpu_share == c.gpu_share == HALF
    # Each process saw exactly its GPU, and its share.
    for name, allocation in zip("abc", (a, b, c), strict=True):
        assert (out / name).read_text() == f"{allocation.gpu_uuids[0]}|0.5"

    # 2. Billed: started seconds x 0.5, rounded once on the line; the rollups count the same GPU-seconds.
    released = wait_until(
        lambda: len(r := events_of(factory, AllocationReleased, tenant.tenant_id)) == 3 and r, "releases"
    )
    assert all(r.gpu_share == HALF and r.gpu_count == 1 for r in released)
    gpu_seconds = sum(math.ceil((r.released_at - r.bound_at).total_seconds()) for r in released) * HALF
    expected = {(tenant.project_id, "A100"): gpu_seconds * GPU_HOUR_PRICE / 3600}
    assert expected_gpu_lines(released, tenant.tenant_id, {"A100": GPU_HOUR_PRICE}, "USD") == expected

    wait_until(
        lambda: (i := tenant.client.invoices()) and invoice_gpu_lines(i[0]) == expected, "the invoice", 30
    )

    days = sorted({r.released_at.date() for r in released})
    params = {
        "from": days[0].isoformat(),
        "to": (days[-1] + timedelta(days=1)).isoformat(),
        "meter": "gpu_seconds",
        "group_by": "project,gpu_model",
    }

    def usage() -> Decimal:
        response = httpx.get(
            f"{factory.gateway_url}/v1/usage", params=params, headers={"Authorization": f"Bearer {key}"}
        )
        response.raise_for_status()
        return sum((Decimal(row["sum"]) for row in response.json()["rows"]), Decimal(0))

    wait_until(lambda: usage() == gpu_seconds, f"the usage rollups to show {gpu_seconds} GPU-seconds", 30)

"""What the gateway publishes on the GATEWAY stream, and its read models following scheduler and metering."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from services.gateway.adapters.consumers import JOBS_DURABLE
from shared.events.jobs import JobState
from shared.events.metering import InvoiceFinalized, InvoiceLine, InvoiceUpdated
from shared.events.scheduler import JobStateChanged, NodeStateChanged
from shared.messaging.streams import GATEWAY
from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer, eventually, job_spec


async def read_published(
    gateway: Gateway, count: int, timeout: float = 10.0
) -> list[tuple[str, dict[str, Any]]]:
    """(ce-type, body) of the first `count` messages on the GATEWAY stream (purged before each test)."""
    subscription = await gateway.js.pull_subscribe("gateway.>", stream=GATEWAY.name)
    found: list[tuple[str, dict[str, Any]]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(found) < count and asyncio.get_running_loop().time() < deadline:
        try:
            messages = await subscription.fetch(count - len(found), timeout=0.5)
        except TimeoutError:
            continue
        for message in messages:
            found.append((message.headers["ce-type"], json.loads(message.data)))
            await message.ack()
    await subscription.unsubscribe()
    return found


async def submit_job(gateway: Gateway, tenant: Tenant) -> dict[str, Any]:
    response = await gateway.http.post(
        "/v1/jobs",
        json={"project_id": tenant.project_id, "spec": job_spec()},
        headers=bearer(tenant.admin_key),
    )
    assert response.status_code == 201
    return dict(response.json())


async def test_every_accepted_request_publishes_its_event(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    job = await submit_job(gateway, tenant)
    await gateway.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=bearer(tenant.admin_key))
    await gateway.http.put(
        f"/v1/projects/{tenant.project_id}/quotas", json={"quotas": {"A100": 8, "H100": 0}}, headers=OPERATOR
    )
    await gateway.http.put(
        f"/v1/tenants/{tenant.tenant_id}/price-book", json={"gpu_hour": {"A100": "2.50"}}, headers=OPERATOR
    )
    await gateway.http.post(
        "/v1/invoices/finalize", json={"tenant_id": tenant.tenant_id, "period": "2026-01"}, headers=OPERATOR
    )

    published = await read_published(gateway, 8)
    assert [ce_type for ce_type, _ in published] == [
        "gateway.v1.tenant.created",
        "gateway.v1.project.created",
        "gateway.v1.job.submitted",
        "gateway.v1.job.cancel_requested",
        "gateway.v1.quota.set",
        "gateway.v1.quota.set",
        "gateway.v1.pricebook.set",
        "gateway.v1.invoice.finalize_requested",
    ]
    submitted = published[2][1]
    assert submitted["job_id"] == job["job_id"] and submitted["tenant_id"] == tenant.tenant_id
    assert submitted["spec"] == job["spec"]
    assert {(b["gpu_model"], b["gpus"]) for _, b in published[4:6]} == {("A100", 8), ("H100", 0)}
    assert published[6][1]["gpu_hour"] == {"A100": "2.50"} and published[6][1]["currency"] == "USD"


async def test_the_job_read_model_applies_only_newer_versions(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    job = await submit_job(gateway, tenant)
    now = gateway.service.clock.now()

    def change(state: JobState, version: int, reason: str = "") -> JobStateChanged:
        return JobStateChanged(
            occurred_at=now + timedelta(seconds=version),
            tenant_id=tenant.tenant_id,
            project_id=tenant.project_id,
            job_id=job["job_id"],
            state=state,
            reason=reason,
            version=version,
        )

    # Version 3 arrives before version 2: the late, older change must not win.
    await gateway.publish(change(JobState.RUNNING, 3, "started on n1"))
    await gateway.publish(change(JobState.SCHEDULED, 2))
    marker = change(JobState.RUNNING, 3)  # a repeat of version 3 under a new event id: also ignored
    await gateway.publish(marker)

    async def read() -> dict[str, Any]:
        return dict((await gateway.http.get(f"/v1/jobs/{job['job_id']}", headers=OPERATOR)).json())

    await eventually(
        lambda: gateway.count("SELECT count(*) FROM processed_events WHERE consumer = $1", JOBS_DURABLE),
        lambda n: n == 3,
    )
    current = await read()
    assert (current["state"], current["reason"]) == ("running", "started on n1")
    running_list = await gateway.http.get(
        "/v1/jobs", params={"state": "running"}, headers=bearer(tenant.admin_key)
    )
    assert [j["job_id"] for j in running_list.json()["items"]] == [job["job_id"]]


async def test_a_state_change_for_an_unknown_job_is_dead_lettered(gateway: Gateway) -> None:
    await gateway.publish(
        JobStateChanged(
            occurred_at=gateway.service.clock.now(),
            tenant_id="tnt_ghost",
            project_id="prj_ghost",
            job_id="job_ghost",
            state=JobState.RUNNING,
            version=1,
        )
    )
    reasons = await eventually(
        lambda: gateway.service.db.fetch("SELECT reason FROM dead_letters"), lambda rows: len(rows) == 1
    )
    assert "job job_ghost is unknown to the gateway" in reasons[0]["reason"]


async def test_the_fleet_read_model_keeps_each_nodes_latest_state(gateway: Gateway) -> None:
    now = gateway.service.clock.now()
    for offset, state in ((0, "ready"), (10, "lost")):
        await gateway.publish(
            NodeStateChanged(
                occurred_at=now + timedelta(seconds=offset),
                node_id="n1",
                state=state,
                gpu_model="A100",
                gpu_count=8,
            )
        )
    # An older report arriving last must not bring the node back.
    await gateway.publish(
        NodeStateChanged(
            occurred_at=now + timedelta(seconds=5), node_id="n1", state="ready", gpu_model="A100", gpu_count=8
        )
    )
    await gateway.publish(
        NodeStateChanged(occurred_at=now, node_id="n2", state="ready", gpu_model="H100", gpu_count=4)
    )

    async def nodes() -> list[dict[str, Any]]:
        return list((await gateway.http.get("/v1/nodes", headers=OPERATOR)).json()["items"])

    await eventually(lambda: gateway.count("SELECT count(*) FROM processed_events"), lambda n: n == 4)
    assert [(n["node_id"], n["state"], n["gpu_model"], n["gpu_count"]) for n in await nodes()] == [
        ("n1", "lost", "A100", 8),
        ("n2", "ready", "H100", 4),
    ]


def invoice_event(
    kind: type[InvoiceUpdated] | type[InvoiceFinalized], tenant: Tenant, total: str, at: int, gateway: Gateway
) -> Any:
    amount = Decimal(total)
    line = InvoiceLine(
        project_id=tenant.project_id,
        meter="gpu_hours",
        gpu_model="A100",
        quantity=amount / Decimal("2.5"),
        unit="GPU-hour",
        unit_price=Decimal("2.5"),
        amount=amount,
    )
    return kind(
        occurred_at=gateway.service.clock.now() + timedelta(seconds=at),
        tenant_id=tenant.tenant_id,
        invoice_id="inv_1",
        period="2026-01",
        status="finalized" if kind is InvoiceFinalized else "draft",
        currency="USD",
        lines=[line],
        total=amount,
    )


async def test_a_finalized_invoice_is_never_overwritten_by_a_later_update(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    other = await gateway.new_tenant("globex")
    await gateway.publish(invoice_event(InvoiceUpdated, tenant, "10.00", 0, gateway))
    await gateway.publish(invoice_event(InvoiceFinalized, tenant, "12.50", 1, gateway))
    await gateway.publish(invoice_event(InvoiceUpdated, tenant, "99.00", 2, gateway))
    await eventually(lambda: gateway.count("SELECT count(*) FROM processed_events"), lambda n: n == 3)

    owner = bearer(await gateway.new_key(tenant, "viewer"))
    listed = (await gateway.http.get("/v1/invoices", headers=owner)).json()["items"]
    assert len(listed) == 1
    invoice = listed[0]
    assert (invoice["status"], invoice["total"], invoice["final"]) == ("finalized", "12.50", True)
    assert invoice["lines"][0]["amount"] == "12.50" and invoice["lines"][0]["unit_price"] == "2.5"
    assert (await gateway.http.get("/v1/invoices/inv_1", headers=owner)).json() == invoice

    stranger = bearer(other.admin_key)
    assert (await gateway.http.get("/v1/invoices/inv_1", headers=stranger)).status_code == 404
    assert (await gateway.http.get("/v1/invoices", headers=stranger)).json()["items"] == []
    by_operator = await gateway.http.get(
        "/v1/invoices", params={"tenant_id": tenant.tenant_id}, headers=OPERATOR
    )
    assert [i["invoice_id"] for i in by_operator.json()["items"]] == ["inv_1"]

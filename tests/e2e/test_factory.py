"""A job's whole journey through the running factory: HTTP, scheduler, agents' real processes, billing."""

from __future__ import annotations

import asyncio
import sys
import uuid
from decimal import Decimal

import httpx
import pytest

from services.cli.crosscheck import expected_gpu_lines, invoice_gpu_lines, read_events
from shared.client.gateway import GatewayError
from shared.events.scheduler import AllocationBound, AllocationReleased
from shared.infra.launcher import Factory
from tests.e2e.conftest import A100_PRICE, Tenant, wait_for_state, wait_until

TERMINAL = {"succeeded", "failed", "cancelled"}


def python_job(name: str, code: str, gpus: int = 1, replicas: int = 1) -> dict[str, object]:
    return {
        "name": name,
        "gpus_per_replica": gpus,
        "replicas": replicas,
        "command": [sys.executable, "-c", code],
    }


def allocations(factory: Factory, event_type: type, job_id: str) -> list:
    return [e for e in asyncio.run(read_events(factory.nats_url, event_type)) if e.job_id == job_id]


def test_a_training_job_runs_as_a_real_process_on_its_bound_gpus(factory: Factory, acme: Tenant) -> None:
    out = factory.share_dir / f"visible-{uuid.uuid4().hex}.txt"  # workloads write only where shared
    code = f"import os; open({str(out)!r}, 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])"
    job = acme.client.submit(acme.project_id, python_job("sees-gpus", code, gpus=2))
    assert acme.client.job(job["job_id"])["state"] in {
        "pending",
        "admitted",
        "scheduled",
        "running",
        "succeeded",
    }

    wait_for_state(acme, job["job_id"], {"succeeded"})

    [bound] = allocations(factory, AllocationBound, job["job_id"])
    assert out.read_text() == ",".join(bound.gpu_uuids)
    assert len(bound.gpu_uuids) == 2
    [released] = wait_until(lambda: allocations(factory, AllocationReleased, job["job_id"]), "release")
    assert released.released_at >= released.bound_at


def test_the_same_idempotency_key_gives_the_same_job(acme: Tenant) -> None:
    spec = python_job("idem", "pass")
    first = acme.client.submit(acme.project_id, spec, idempotency_key="e2e-key-1")
    again = acme.client.submit(acme.project_id, spec, idempotency_key="e2e-key-1")
    assert again["job_id"] == first["job_id"]
    with pytest.raises(GatewayError) as refused:
        acme.client.submit(acme.project_id, python_job("other", "pass"), idempotency_key="e2e-key-1")
    assert refused.value.status == 422


def test_a_tenant_cannot_see_or_touch_another_tenants_job(acme: Tenant, globex: Tenant) -> None:
    job = acme.client.submit(acme.project_id, python_job("private", "pass"))
    for attempt in (lambda: globex.client.job(job["job_id"]), lambda: globex.client.cancel(job["job_id"])):
        with pytest.raises(GatewayError) as refused:
            attempt()
        assert refused.value.status == 404
    assert all(j["job_id"] != job["job_id"] for j in globex.client.jobs())
    with pytest.raises(GatewayError) as refused:
        globex.client.submit(acme.project_id, python_job("intrude", "pass"))
    assert refused.value.status == 404


def test_bad_requests_get_problem_details(factory: Factory, acme: Tenant) -> None:
    with pytest.raises(GatewayError) as too_big:
        acme.client.submit(acme.project_id, python_job("huge", "pass", gpus=16))
    assert too_big.value.status == 422
    assert "16" in too_big.value.problem["detail"]

    response = httpx.post(
        f"{factory.gateway_url}/v1/jobs", headers={"Authorization": "Bearer afk_nope"}, json={}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_job_over_quota_waits_with_its_reason(globex: Tenant) -> None:
    # globex may hold 2 A100 at once: the second 2-GPU job waits for the first.
    blocker = globex.client.submit(
        globex.project_id, python_job("first", "import time; time.sleep(3)", gpus=2)
    )
    wait_for_state(globex, blocker["job_id"], {"running"})
    waiting = globex.client.submit(globex.project_id, python_job("second", "pass", gpus=2))

    pending = wait_until(
        lambda: (j := globex.client.job(waiting["job_id"]))["reason"] and j, "a pending reason", timeout_s=10
    )
    assert pending["state"] == "pending"
    assert "quota" in pending["reason"]
    wait_for_state(globex, waiting["job_id"], {"succeeded"})


def test_losing_a_node_closes_its_allocation_and_requeues_the_job(factory: Factory, acme: Tenant) -> None:
    job = acme.client.submit(acme.project_id, python_job("survivor", "import time; time.sleep(120)", gpus=4))
    wait_for_state(acme, job["job_id"], {"running"})
    [first] = allocations(factory, AllocationBound, job["job_id"])

    factory.crash_agent(first.node_id)

    [closed] = wait_until(lambda: allocations(factory, AllocationReleased, job["job_id"]), "release", 20)
    assert "lost" in closed.reason
    assert closed.allocation_id == first.allocation_id
    rebound = wait_until(
        lambda: [
            a for a in allocations(factory, AllocationBound, job["job_id"]) if a.node_id != first.node_id
        ],
        "the job placed on another node",
        20,
    )
    assert rebound[0].allocation_id != first.allocation_id
    wait_for_state(acme, job["job_id"], {"running"})
    acme.client.cancel(job["job_id"])
    wait_for_state(acme, job["job_id"], {"cancelled"})


def test_invoices_match_allocation_times_and_the_price_book(
    factory: Factory, acme: Tenant, globex: Tenant
) -> None:
    prices = {"A100": Decimal(A100_PRICE)}
    for tenant in (acme, globex):
        wait_until(
            lambda t=tenant: all(j["state"] in TERMINAL for j in t.client.jobs()), "every job to end", 30
        )

        def billed(tenant: Tenant = tenant) -> bool:
            released = asyncio.run(read_events(factory.nats_url, AllocationReleased))
            expected = expected_gpu_lines(released, tenant.tenant_id, prices, "USD")
            invoices = tenant.client.invoices()
            return bool(expected) and bool(invoices) and invoice_gpu_lines(invoices[0]) == expected

        wait_until(billed, f"{tenant.tenant_id}'s invoice to match its allocation times", 20)

"""The whole factory, brought up through the same launcher as `aifactory up`, shared by the e2e tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory, FactoryConfig, pick_ports

A100_PRICE = "3.60"  # per GPU-hour: one GPU-second costs exactly 0.001


@dataclass
class Tenant:
    tenant_id: str
    project_id: str
    client: GatewayClient


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Factory]:
    config = pick_ports(
        FactoryConfig(
            data_dir=Path(tmp_path_factory.mktemp("factory")),
            agents=3,
            gpus_per_agent=4,
            heartbeat_s=0.5,
            sample_s=1.0,
            node_lost_after_s=3.0,
        )
    )
    running = Factory(config).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def operator(factory: Factory) -> GatewayClient:
    client = GatewayClient(factory.gateway_url, factory.admin_key)
    wait_until(lambda: len([n for n in client.nodes() if n["state"] == "ready"]) == 3, "3 nodes ready")
    return client


def make_tenant(operator: GatewayClient, name: str, quota: int = 8) -> Tenant:
    tenant = operator.create_tenant(name, "USD")
    operator.set_price_book(
        tenant["tenant_id"],
        {"currency": "USD", "gpu_hour": {"A100": A100_PRICE}, "per_1k_tokens": "0", "per_request": "0",
         "per_kwh": "0"},
    )  # fmt: skip
    client = operator.with_key(tenant["admin_key"])
    project = client.create_project("main")
    operator.set_quotas(project["project_id"], {"A100": quota})
    return Tenant(tenant["tenant_id"], project["project_id"], client)


@pytest.fixture(scope="session")
def acme(operator: GatewayClient) -> Tenant:
    return make_tenant(operator, "acme")


@pytest.fixture(scope="session")
def globex(operator: GatewayClient) -> Tenant:
    return make_tenant(operator, "globex", quota=2)


def wait_until(condition: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def wait_for_state(tenant: Tenant, job_id: str, states: set[str], timeout_s: float = 30.0) -> dict[str, Any]:
    def current() -> dict[str, Any] | None:
        job = tenant.client.job(job_id)
        return job if job["state"] in states else None

    result: dict[str, Any] = wait_until(current, f"{job_id} in {states}", timeout_s)
    return result

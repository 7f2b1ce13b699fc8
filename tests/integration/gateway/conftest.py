"""A running gateway (real PostgreSQL and nats-server) and an HTTP client on its app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from nats.js.errors import NotFoundError

from services.gateway.adapters.consumers import INVOICES_DURABLE, JOBS_DURABLE, NODES_DURABLE
from services.gateway.main import GatewayService, create_service
from services.gateway.settings import GatewaySettings
from shared.events.base import Event
from shared.messaging.streams import GATEWAY, METERING, SCHEDULER

ADMIN_KEY = "operator-secret-for-tests"
T = TypeVar("T")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


OPERATOR = bearer(ADMIN_KEY)


def job_spec(**overrides: Any) -> dict[str, Any]:
    """A valid job spec as a client sends it; override any field."""
    return {"name": "train-resnet", "command": ["python", "train.py"], "gpus_per_replica": 1} | overrides


@dataclass
class Tenant:
    tenant_id: str
    admin_key: str
    project_id: str


@dataclass
class Gateway:
    service: GatewayService
    http: httpx.AsyncClient

    @property
    def js(self) -> Any:
        return self.service.js

    async def publish(self, event: Event) -> None:
        await self.js.publish(event.subject(), event.model_dump_json().encode(), headers=event.headers())

    async def new_tenant(self, name: str = "acme", project: str = "research") -> Tenant:
        created = await self.http.post("/v1/tenants", json={"name": name}, headers=OPERATOR)
        assert created.status_code == 201, created.text
        tenant = created.json()
        made = await self.http.post(
            "/v1/projects", json={"name": project}, headers=bearer(tenant["admin_key"])
        )
        assert made.status_code == 201, made.text
        return Tenant(tenant["tenant_id"], tenant["admin_key"], made.json()["project_id"])

    async def new_key(self, tenant: Tenant, role: str) -> str:
        created = await self.http.post(
            f"/v1/tenants/{tenant.tenant_id}/keys",
            json={"role": role, "name": f"{role} key"},
            headers=bearer(tenant.admin_key),
        )
        assert created.status_code == 201, created.text
        return str(created.json()["api_key"])

    async def count(self, sql: str, *args: Any) -> int:
        return int(await self.service.db.pool.fetchval(sql, *args))


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 10.0
) -> T:
    """Poll `probe` until `accept` holds or the deadline passes; returns the last value seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    value = await probe()
    while not accept(value) and loop.time() < deadline:
        await asyncio.sleep(0.05)
        value = await probe()
    return value


async def _forget_earlier_tests(nats_url: str) -> None:
    """Streams and durables are shared by the session: start from empty so no earlier event leaks in."""
    import nats

    connection = await nats.connect(nats_url)
    try:
        js = connection.jetstream()
        for stream, durable in (
            (SCHEDULER, JOBS_DURABLE),
            (SCHEDULER, NODES_DURABLE),
            (METERING, INVOICES_DURABLE),
        ):
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(stream.name, durable)
        for stream in (GATEWAY, SCHEDULER, METERING):
            with contextlib.suppress(NotFoundError):
                await js.purge_stream(stream.name)
    finally:
        await connection.close()


@pytest.fixture
async def gateway(nats_url: str, fresh_database: str) -> AsyncIterator[Gateway]:
    await _forget_earlier_tests(nats_url)
    settings = GatewaySettings(
        nats_url=nats_url,
        database_url=fresh_database,
        admin_key=ADMIN_KEY,
        http_port=0,
        max_body_bytes=4096,
        outbox_poll_s=0.1,
        max_deliveries=2,
    )
    service = create_service(settings)
    await service.start()
    transport = httpx.ASGITransport(app=service.http_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        yield Gateway(service, http)
    await service.stop()

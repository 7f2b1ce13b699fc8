"""A metering service on the real nats-server and PostgreSQL, with what billing-event tests need: the
METERING stream read back raw (headers and body), metering's internal API, and a local HTTP server
that receives webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.metering.main import MeteringService, create_service
from services.metering.settings import MeteringSettings
from shared.events.base import Event
from shared.messaging.streams import GATEWAY, INGEST, METERING, SCHEDULER, ensure_streams
from tests.integration.metering.gateway_auth import METERING_API_KEY, AsGateway
from tests.unit.metering.builders import T0, price_book_set, tenant_created

METERING_DURABLES = {
    GATEWAY.name: ("metering-pricebooks", "metering-invoices"),
    SCHEDULER.name: ("metering-allocations",),
    INGEST.name: ("metering-usage",),
    METERING.name: ("metering-budgets", "metering-webhooks"),
}
T = TypeVar("T")


class ShiftedClock:
    """Real time moved back to just after the test data (metering refuses usage much older than its
    clock); the budgets' current period is the data's."""

    def __init__(self, start: datetime) -> None:
        self._offset = datetime.now(UTC) - start

    def now(self) -> datetime:
        return datetime.now(UTC) - self._offset


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll until `accept` holds; fail with the last value seen after the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.05)


@dataclass
class Metering:
    host: MeteringService
    js: JetStreamContext
    billing_events: JetStreamContext.PullSubscription
    tenant: str = field(default_factory=lambda: f"tnt_{uuid.uuid4().hex[:8]}")
    received: list[Msg] = field(default_factory=list)

    async def publish(self, *events: Event) -> None:
        for event in events:
            await self.js.publish(event.subject(), event.model_dump_json().encode(), headers=event.headers())

    async def set_up_tenant(self, gpu_hour: dict[str, str]) -> None:
        book = price_book_set(self.tenant, gpu_hour=gpu_hour)
        await self.publish(tenant_created(self.tenant), book)
        await self.wait_for_row("SELECT count(*) FROM price_books WHERE source_event_id = $1", book.event_id)

    async def wait_for_row(self, sql: str, *args: Any) -> None:
        await eventually(lambda: self.host.db.pool.fetchval(sql, *args), bool)

    async def messages(self, accept: Callable[[list[Msg]], bool], timeout: float = 15.0) -> list[Msg]:
        """Every message on the METERING stream so far (raw), once `accept` holds for them."""

        async def fetch() -> list[Msg]:
            with contextlib.suppress(TimeoutError):
                for msg in await self.billing_events.fetch(100, timeout=0.2):
                    self.received.append(msg)
                    await msg.ack()
            return list(self.received)

        return await eventually(fetch, accept, timeout)

    async def api(self, path: str, **params: Any) -> Any:
        """GET as the gateway: signed for params' tenant_id (taken off the query), else the fleet."""
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.host.http.port}", auth=AsGateway()
        ) as client:
            response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


def of_type(messages: list[Msg], ce_type: str) -> list[Msg]:
    return [m for m in messages if (m.headers or {}).get("ce-type") == ce_type]


async def forget_earlier_tests(js: JetStreamContext) -> None:
    """Durables outlive a test in the session's nats-server: start afresh, on empty streams."""
    for stream, durables in METERING_DURABLES.items():
        for durable in durables:
            with contextlib.suppress(NotFoundError):
                await js.delete_consumer(stream, durable)
    for stream_def in (GATEWAY, SCHEDULER, INGEST, METERING):
        await js.purge_stream(stream_def.name)


@contextlib.asynccontextmanager
async def running_metering(nats_url: str, database_url: str, **settings: Any) -> AsyncIterator[Metering]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    await forget_earlier_tests(js)
    billing_events = await js.pull_subscribe("metering.v1.>", stream=METERING.name)
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "database_url": database_url,
        "invoice_publish_interval_s": 0.2,
        "outbox_poll_s": 0.1,
        "http_port": 0,
        "metering_api_key": METERING_API_KEY,
        "webhook_backoff_base_s": 0.2,
        "webhook_backoff_max_s": 1.0,
        "webhook_poll_s": 0.05,
        "webhook_timeout_s": 2.0,
        "webhook_allow_internal": True,  # the test's receivers listen on 127.0.0.1
    }
    host = create_service(MeteringSettings(**(values | settings)), clock=ShiftedClock(T0 + timedelta(days=1)))
    await host.start()
    await host.http.wait_listening()
    try:
        yield Metering(host, js, billing_events)
    finally:
        await host.stop()
        await billing_events.unsubscribe()
        await nc.close()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A real HTTP server on a free local port, answering each POST with the next planned status (the
    last one once the plan runs out), and keeping every request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received(dict(self.headers.items()), body))
                status = receiver.statuses[min(len(receiver.requests), len(receiver.statuses)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

"""The real ingest service on the session's nats-server and a fresh PostgreSQL database per test.

The durables (ingest-usage, ...) outlive a test on the shared nats-server, so each test uses ids of its
own (GPUs, tenants, sources) and looks only for what it published.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from nats.js.errors import NotFoundError

from services.ingest.main import IngestService, create_service
from services.ingest.settings import IngestSettings
from shared.events.base import Event
from shared.events.ingest import UsageBatchRecorded, UsageRecorded
from shared.messaging.streams import INGEST

TOKEN = "integration-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_BODY = 64 * 1024
DEADLINE_S = 10.0


class Harness:
    def __init__(self, service: IngestService, http: httpx.AsyncClient, first_seq: int) -> None:
        self.service = service
        self.http = http
        self._next_seq = first_seq
        self._records: list[UsageRecorded] = []

    async def publish(self, event: Event, *, msg_id: str | None = None) -> None:
        headers = event.headers()
        if msg_id is not None:
            headers["Nats-Msg-Id"] = msg_id
        await self.service.js.publish(event.subject(), event.model_dump_json().encode(), headers=headers)

    async def count(self, sql: str, *args: Any) -> int:
        return int(await self.service.db.pool.fetchval(sql, *args))

    async def wait_count(self, sql: str, *args: Any, expected: int) -> int:
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while (
            value := await self.count(sql, *args)
        ) != expected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        return value

    async def wait_records(
        self, match: Callable[[UsageRecorded], bool], expected: int = 1
    ) -> list[UsageRecorded]:
        """The UsageRecorded events on the INGEST stream that match, once `expected` are there (or at the deadline)."""
        deadline = asyncio.get_running_loop().time() + DEADLINE_S
        while True:
            await self._read_stream()
            found = [record for record in self._records if match(record)]
            if len(found) >= expected or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)

    async def _read_stream(self) -> None:
        last = (await self.service.js.stream_info(INGEST.name)).state.last_seq
        while self._next_seq <= last:
            try:
                message = await self.service.js.get_msg(INGEST.name, self._next_seq)
            except NotFoundError:  # deleted by a purge elsewhere
                message = None
            self._next_seq += 1
            if message is not None and message.subject == UsageRecorded.SUBJECT:
                assert message.data is not None
                self._records.append(UsageRecorded.model_validate(json.loads(message.data)))
            elif message is not None and message.subject == UsageBatchRecorded.SUBJECT:
                assert message.data is not None
                self._records += UsageBatchRecorded.model_validate_json(message.data).records


@asynccontextmanager
async def running_ingest(nats_url: str, database_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    """The ingest service on its own database, with settings changed by `overrides`."""
    settings = IngestSettings(
        nats_url=nats_url,
        database_url=database_url,
        ingest_token=TOKEN,  # type: ignore[arg-type]
        http_port=0,
        max_body_bytes=MAX_BODY,
        outbox_poll_s=0.1,
        **overrides,
    )
    service = create_service(settings)
    await service.start()
    try:
        await service.http.wait_listening()
        first_seq = (await service.js.stream_info(INGEST.name)).state.last_seq + 1
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http.port}", timeout=10) as http:
            yield Harness(service, http, first_seq)
    finally:
        await service.stop()


@pytest.fixture
async def ingest(nats_url: str, fresh_database: str) -> AsyncIterator[Harness]:
    async with running_ingest(nats_url, fresh_database) as harness:
        yield harness

"""Metering's delivery log API in pages, on PostgreSQL: newest first by (created_at, delivery_id), an
opaque cursor to the next page, each delivery exactly once; a bad cursor is a 400 naming `after`, and a
cursor only ever reads the asking tenant's log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from services.metering.main import MIGRATIONS, SCHEMA
from services.metering.platform.http import create_http_app
from services.metering.webhooks.adapters.http import webhooks_router
from services.metering.webhooks.adapters.store import PgWebhookStore
from services.metering.webhooks.app.ports import WebhookEndpoint
from shared.contracts.metering_api import DELIVERIES_PATH
from shared.db.migrations import migrate
from shared.db.pool import Database, create_pool
from tests.integration.metering.gateway_auth import METERING_API_KEY, AsGateway

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def seed_deliveries(
    database_url: str, tenant_id: str, endpoint_id: str, minutes: list[int]
) -> list[tuple[datetime, int]]:
    """Delivered deliveries to the endpoint (made if new), created T0 + each of `minutes` in the order
    given, the first with two attempts logged; their (created_at, delivery_id)."""
    pool = await create_pool(database_url, SCHEMA, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            store = PgWebhookStore(conn)
            endpoint = WebhookEndpoint(endpoint_id, tenant_id, "https://x.example/h", "s" * 16, (), True, T0)
            await store.save_endpoint(endpoint)
            keys = []
            for minute in minutes:
                at = T0 + timedelta(minutes=minute)
                assert await store.add_delivery(endpoint, uuid4(), "metering.v1.usage.rated", b"{}", at)
                delivery_id = await conn.fetchval("SELECT max(delivery_id) FROM webhook_deliveries")
                keys.append((at, delivery_id))
            # Done with, so a running dispatcher leaves them be.
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', next_attempt_at = NULL,"
                " finished_at = created_at WHERE endpoint_id = $1",
                endpoint_id,
            )
            for attempt in (1, 2):
                await conn.execute(
                    "INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code,"
                    " duration_ms) VALUES ($1, $2, $3, 500, 1.5)",
                    keys[0][1],
                    attempt,
                    T0 + timedelta(minutes=minutes[0], seconds=attempt),
                )
    finally:
        await pool.close()
    return keys


def newest_first(keys: list[tuple[datetime, int]]) -> list[int]:
    return [delivery_id for _, delivery_id in sorted(keys, reverse=True)]


async def every_page(
    http: httpx.AsyncClient, tenant_id: str, after: str | None = None, **params: Any
) -> list[list[dict[str, Any]]]:
    """The log's pages, two deliveries a page, following next_cursor."""
    pages: list[list[dict[str, Any]]] = []
    query = {"tenant_id": tenant_id, "limit": 2, **params} | ({"after": after} if after else {})
    while True:
        response = await http.get(DELIVERIES_PATH, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["tenant_id"] == tenant_id
        pages.append(body["items"])
        if body["next_cursor"] is None:
            return pages
        query["after"] = body["next_cursor"]


@pytest.fixture
async def http(fresh_database: str) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(fresh_database, SCHEMA, MIGRATIONS)
    pool = await create_pool(fresh_database, SCHEMA, max_size=2)
    app = create_http_app(webhooks_router(Database(pool)), service_key=METERING_API_KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://metering", auth=AsGateway()
    ) as client:
        yield client
    await pool.close()


async def test_walking_the_pages_gives_every_delivery_once_newest_first(
    http: httpx.AsyncClient, fresh_database: str
) -> None:
    # Ties in created_at, and a later delivery created earlier: the order is (created_at, id), not id.
    hooks = await seed_deliveries(fresh_database, "tnt_a", "whk_1", [1, 3, 3, 2, 5])
    hooks += await seed_deliveries(fresh_database, "tnt_a", "whk_2", [3, 4])
    await seed_deliveries(fresh_database, "tnt_b", "whk_b", [2, 6])

    pages = await every_page(http, "tnt_a")
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    walked = [item["delivery_id"] for page in pages for item in page]
    assert walked == newest_first(hooks) and len(set(walked)) == 7
    attempts = {item["delivery_id"]: len(item["attempt_log"]) for page in pages for item in page}
    assert attempts[hooks[0][1]] == 2 and attempts[hooks[5][1]] == 2 and sum(attempts.values()) == 4

    one_endpoint = await every_page(http, "tnt_a", endpoint_id="whk_2")
    assert [[item["delivery_id"] for item in page] for page in one_endpoint] == [newest_first(hooks[5:])]
    whole = await http.get(DELIVERIES_PATH, params={"tenant_id": "tnt_a", "limit": 7})
    assert whole.json()["next_cursor"] is None and len(whole.json()["items"]) == 7


async def test_a_cursor_reads_only_the_asking_tenants_log(
    http: httpx.AsyncClient, fresh_database: str
) -> None:
    hers = await seed_deliveries(fresh_database, "tnt_a", "whk_a", [1, 2, 3, 4])
    theirs = await seed_deliveries(fresh_database, "tnt_b", "whk_b", [0, 2])
    first = await http.get(DELIVERIES_PATH, params={"tenant_id": "tnt_a", "limit": 1})
    cursor = first.json()["next_cursor"]
    assert cursor is not None

    carried_over = await every_page(http, "tnt_b", after=cursor)
    seen = {item["delivery_id"] for page in carried_over for item in page}
    assert seen <= {delivery_id for _, delivery_id in theirs}
    assert not seen & {delivery_id for _, delivery_id in hers}


@pytest.mark.parametrize("cursor", ["garbage!", "WyIyMDI2LTAxLTAxIiwgN10", ""])
async def test_a_bad_cursor_is_a_400_naming_after(http: httpx.AsyncClient, cursor: str) -> None:
    response = await http.get(DELIVERIES_PATH, params={"tenant_id": "tnt_a", "after": cursor})
    assert (response.status_code, response.headers["content-type"]) == (400, "application/problem+json")
    problem = response.json()
    assert problem["code"] == "invalid_cursor" and problem["errors"][0]["field"] == "after"
    for limit in (0, 501):
        bad = await http.get(DELIVERIES_PATH, params={"tenant_id": "tnt_a", "limit": limit})
        assert bad.status_code == 422 and "limit" in bad.text

"""What one tenant may take of webhooks (domain.rules.WebhookLimits): its endpoints are capped (one
more is refused, for the consumer to dead-letter with the reason), a response is read only so far, and
the settings say each limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.metering.settings import MeteringSettings
from services.metering.webhooks.adapters.sender import read_at_most
from services.metering.webhooks.app.use_cases import record_endpoint
from services.metering.webhooks.domain.rules import InvalidWebhook, WebhookLimits, endpoint_cap_refusal
from shared.events.gateway import WebhookEndpointSet
from tests.unit.metering.test_billing_event_use_cases import Webhooks

NOW = datetime(2026, 1, 20, tzinfo=UTC)


def remove(store: Webhooks, endpoint_id: str) -> None:
    store.saved[endpoint_id] = replace(store.saved[endpoint_id], active=False)


def endpoint_set(endpoint_id: str, tenant_id: str = "tnt_a") -> WebhookEndpointSet:
    return WebhookEndpointSet(
        occurred_at=NOW,
        tenant_id=tenant_id,
        endpoint_id=endpoint_id,
        url=f"https://hooks.example.com/{endpoint_id}",
        secret="0123456789abcdef",
        event_types=[],
    )


async def test_a_tenant_has_at_most_ten_endpoints_by_default() -> None:
    store = Webhooks()
    for n in range(10):
        await record_endpoint(store, endpoint_set(f"whk_{n}"))

    with pytest.raises(InvalidWebhook) as refused:
        await record_endpoint(store, endpoint_set("whk_10"))
    assert str(refused.value) == (
        "webhook endpoint whk_10: the tenant has 10 active webhook endpoints, the most allowed "
        "(AIFACTORY_WEBHOOK_MAX_ENDPOINTS_PER_TENANT=10); remove one first"
    )
    assert "whk_10" not in store.saved


async def test_setting_an_endpoint_again_another_tenants_or_after_a_removal_is_allowed() -> None:
    store = Webhooks()
    limits = WebhookLimits(max_endpoints_per_tenant=2)
    for endpoint_id in ("whk_1", "whk_2"):
        await record_endpoint(store, endpoint_set(endpoint_id), limits)

    await record_endpoint(store, endpoint_set("whk_2"), limits)  # set again: replaces it
    await record_endpoint(store, endpoint_set("whk_b", "tnt_b"), limits)
    with pytest.raises(InvalidWebhook, match="has 2 active webhook endpoints"):
        await record_endpoint(store, endpoint_set("whk_3"), limits)
    remove(store, "whk_1")
    await record_endpoint(store, endpoint_set("whk_3"), limits)
    assert sorted(e.endpoint_id for e in await store.subscribers("tnt_a")) == ["whk_2", "whk_3"]


def test_the_cap_rule() -> None:
    assert endpoint_cap_refusal(["a", "b"], "c", 3) is None
    assert endpoint_cap_refusal(["a", "b", "c"], "c", 3) is None  # setting one again
    refusal = endpoint_cap_refusal(["a", "b", "c"], "d", 3)
    assert refusal is not None and "has 3 active webhook endpoints" in refusal


@pytest.mark.parametrize(
    "terms",
    [{"max_response_bytes": 0}, {"max_in_flight_per_tenant": 0}, {"max_endpoints_per_tenant": -1}],
)
def test_limits_must_make_sense(terms: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        WebhookLimits(**terms)


def test_the_settings_say_each_limit_with_safe_defaults() -> None:
    defaults = MeteringSettings()
    assert defaults.webhook_limits == WebhookLimits(64 * 1024, 4, 10)
    assert (defaults.webhook_timeout_s, defaults.webhook_allow_internal) == (10.0, False)
    chosen = MeteringSettings(
        webhook_max_response_bytes=1000,
        webhook_max_in_flight_per_tenant=2,
        webhook_max_endpoints_per_tenant=3,
    )
    assert chosen.webhook_limits == WebhookLimits(1000, 2, 3)


async def test_a_response_is_read_only_up_to_the_cap_and_no_chunk_more() -> None:
    pulled: list[int] = []

    async def endless(chunk: int) -> AsyncIterator[bytes]:
        while True:
            pulled.append(chunk)
            yield b"x" * chunk

    head = await read_at_most(endless(10_000), 64 * 1024)
    assert head == b"x" * 64 * 1024
    assert len(pulled) == 7  # 70,000 bytes received to have 65,536: the eighth chunk was never asked for

    pulled.clear()
    assert await read_at_most(endless(100), 250) == b"x" * 250 and len(pulled) == 3


async def test_a_short_response_is_read_whole() -> None:
    async def two_chunks() -> AsyncIterator[bytes]:
        yield b"no such "
        yield b"tenant"

    assert await read_at_most(two_chunks(), 64 * 1024) == b"no such tenant"

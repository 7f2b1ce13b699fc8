"""Only globally routable webhook destinations (shared/contracts/webhook_endpoints.py): the address rule,
the gateway's refusal of a literal address at registration, and metering's refusal at delivery of a host
that resolves to one (the resolver replaced, so nothing is connected to)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

import pytest

from services.gateway.app.administration import CreateTenant
from services.gateway.app.billing_controls import RegisterWebhook
from services.gateway.domain.errors import InvalidInput
from services.metering.webhooks.adapters.destinations import DestinationRefused, PinnedBackend
from services.metering.webhooks.adapters.dispatcher import HttpxWebhookSender
from services.metering.webhooks.domain.rules import internal_address
from shared.contracts.webhook_endpoints import destination_problems, non_global_reason
from tests.unit.gateway.test_use_cases import OPERATOR, World

REFUSED = [
    ("100.64.0.1", "carrier-grade NAT"),  # RFC 6598; Alibaba Cloud's metadata service is 100.100.100.200
    ("100.100.100.200", "carrier-grade NAT"),
    ("169.254.169.254", "link-local"),  # AWS, GCP and Azure metadata
    ("10.0.0.1", "private"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo: never global
    ("fc00::1", "private"),  # unique local
    ("::10.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ("224.0.0.1", "multicast"),  # is_global says True for most multicast groups
    ("ff0e::1", "multicast"),
    ("0.0.0.0", "private"),
    ("198.18.0.1", "private"),  # benchmarking
    ("192.0.2.1", "private"),  # documentation
]
ACCEPTED = ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "2002:808:808::1", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_anything_not_globally_routable_is_refused_with_its_kind(address: str, kind: str) -> None:
    assert non_global_reason(address) == kind
    assert internal_address(address) == kind  # metering's delivery check is the same rule


@pytest.mark.parametrize("address", ACCEPTED)
def test_global_addresses_are_accepted(address: str) -> None:
    # 6to4 and NAT64 of a global IPv4 address reach that address: accepted like it.
    assert non_global_reason(address) is None


def test_what_is_not_an_address_is_no_verdict() -> None:
    with pytest.raises(ValueError):
        non_global_reason("hooks.example.com")


@pytest.mark.parametrize(("address", "kind"), REFUSED)
def test_a_url_naming_a_non_global_address_is_a_url_problem(address: str, kind: str) -> None:
    host = f"[{address}]" if ":" in address else address
    (problem,) = destination_problems(f"https://{host}:8443/hooks")
    assert problem.field == "url"
    assert problem.message.startswith(f"{address} is a {kind} address")


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hooks", "https://[2606:4700:4700::1111]/h", "https://hooks.example.com/h"]
)
def test_a_global_address_or_a_name_is_no_problem_at_registration(url: str) -> None:
    assert destination_problems(url) == []  # a name is judged by what it resolves to, at delivery


def test_the_operator_may_allow_its_own_network() -> None:
    assert destination_problems("http://10.0.0.7:9000/in", allow_non_global=True) == []
    assert destination_problems("http://10.0.0.7:9000/in") != []


async def _register(url: str) -> None:
    world = World()
    created = await world.cases.administration.create_tenant(OPERATOR, CreateTenant("acme", "USD"))
    command = RegisterWebhook(created.tenant.tenant_id, url, "s" * 20)
    await world.cases.billing_controls.register_webhook(OPERATOR, command)


@pytest.mark.parametrize("address", ["100.64.0.1", "169.254.169.254", "[2002:a00:1::1]", "[::ffff:10.0.0.1]"])
async def test_the_gateway_refuses_a_literal_non_global_address_naming_the_url(address: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await _register(f"http://{address}/hooks")
    assert [error.field for error in refused.value.errors] == ["url"]


async def test_the_gateway_accepts_a_global_address() -> None:
    await _register("https://8.8.8.8/hooks")


def resolving_to(*addresses: str) -> Any:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("answers", "refused", "kind"),
    [
        (["100.100.100.200"], "100.100.100.200", "carrier-grade NAT"),
        (["93.184.215.14", "2002:a00:1::1"], "2002:a00:1::1", "private"),
        (["8.8.8.8", "::ffff:169.254.169.254"], "::ffff:169.254.169.254", "link-local"),
    ],
)
async def test_at_delivery_a_host_with_any_non_global_answer_is_refused(
    answers: list[str], refused: str, kind: str
) -> None:
    backend = PinnedBackend(allow_internal=False, resolve=resolving_to(*answers))
    with pytest.raises(DestinationRefused) as error:
        await backend.checked_addresses("hooks.example.test", 443)
    assert str(error.value).startswith(f"refused: hooks.example.test resolves to {refused}, a {kind} address")


async def test_at_delivery_the_operator_may_allow_its_own_network() -> None:
    backend = PinnedBackend(allow_internal=True, resolve=resolving_to("100.64.0.1"))
    assert await backend.checked_addresses("hooks.example.test", 443) == ["100.64.0.1"]


async def test_the_system_resolvers_answer_is_checked_before_any_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real sender and its default resolver; only the DNS answer is the test's: a cloud's metadata.
    asked: list[str] = []

    async def getaddrinfo(host: str, port: int, **_: Any) -> list[Any]:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("100.100.100.200", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    sender = HttpxWebhookSender(2.0)
    try:
        result = await sender.send("http://metadata.example.test/latest", {}, b"{}")
    finally:
        await sender.close()

    assert asked == ["metadata.example.test"]
    assert result.status_code is None and result.error is not None
    assert result.error.startswith(
        "refused: metadata.example.test resolves to 100.100.100.200, a carrier-grade NAT address"
    )

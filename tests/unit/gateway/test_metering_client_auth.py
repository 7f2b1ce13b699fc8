"""The gateway's metering client signs each read for the tenant it asks about (the operator's fleet view
only for chargeback without a tenant), for the path as it goes on the wire, and sends no tenant_id; each
replica tried gets its own assertion. The gateway refuses to start with an unfit metering API key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from services.gateway import main as gateway_main
from services.gateway.adapters.metering_client import MeteringClient
from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.app.usage_and_exports import UsageQuery
from services.gateway.settings import GatewaySettings
from shared.contracts.service_auth import ServiceScope, verify_authorization
from shared.infra.embedded import free_port

KEY = "gateway-unit-test-metering-api-key-0123456789"
CHARGEBACK = {"scope": "fleet", "period": "2026-01", "currency": "USD", "idle": "shared", "lines": [],
              "unrated": [], "total": "0"}  # fmt: skip
USAGE = {"tenant_id": "tnt_a", "grain": "day", "start": "2026-01-01", "end": "2026-01-02", "group_by": [],
         "rows": []}  # fmt: skip


@dataclass
class Seen:
    path: str  # decoded, as metering reads it
    query: dict[str, list[str]]
    authorization: str | None


class _Metering(BaseHTTPRequestHandler):
    seen: list[Seen]

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.seen.append(Seen(path, parse_qs(url.query), self.headers.get("Authorization")))
        body: object = b"file"
        if path == "/v1/chargeback":
            body = CHARGEBACK
        elif path == "/v1/budgets":
            body = {"tenant_id": "tnt_a", "period": "2026-01", "items": []}
        elif path == "/v1/webhooks":
            body = {"tenant_id": "tnt_a", "items": []}
        elif path == "/v1/webhooks/deliveries":
            body = {"tenant_id": "tnt_a", "items": [], "next_cursor": None}
        elif path == "/v1/usage":
            body = USAGE
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body if isinstance(body, bytes) else json.dumps(body).encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def metering() -> Iterator[tuple[str, list[Seen]]]:
    seen: list[Seen] = []
    handler = type("Handler", (_Metering,), {"seen": seen})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def scope_of(seen: Seen, key: str = KEY) -> ServiceScope:
    return verify_authorization(key, seen.authorization, "GET", seen.path, time.time()).scope


async def test_each_read_is_signed_for_its_tenant_and_path_with_no_tenant_id(
    metering: tuple[str, list[Seen]],
) -> None:
    url, seen = metering
    client = MeteringClient(url, service_key=KEY)
    try:
        await client.budgets("tnt_a", "2026-01")
        await client.webhooks("tnt_a")
        await client.deliveries("tnt_a", "whk_1", 10, None)
        await client.usage("tnt_a", UsageQuery(start=date(2026, 1, 1), end=date(2026, 1, 2)))
        await client.invoice_export("tnt_a", "inv 1/ü", "csv")
        await client.focus("tnt_a", "2026-01")
        await client.chargeback("tnt_a", "2026-01", None)
    finally:
        await client.close()

    assert [s.path for s in seen] == [
        "/v1/budgets",
        "/v1/webhooks",
        "/v1/webhooks/deliveries",
        "/v1/usage",
        "/v1/invoices/inv 1/ü/export",
        "/v1/focus",
        "/v1/chargeback",
    ]
    assert all("tenant_id" not in s.query for s in seen)
    assert [scope_of(s) for s in seen] == [ServiceScope.tenant("tnt_a")] * len(seen)


async def test_the_fleet_view_is_asked_in_the_fleet_scope_only(metering: tuple[str, list[Seen]]) -> None:
    url, seen = metering
    client = MeteringClient(url, service_key=KEY)
    try:
        await client.chargeback(None, "2026-01", "shared")
        with pytest.raises(ValueError):
            await client.chargeback("", "2026-01", None)  # an empty tenant never widens to the fleet
    finally:
        await client.close()
    (fleet,) = seen
    assert scope_of(fleet).is_fleet and fleet.query == {"period": ["2026-01"], "idle": ["shared"]}


async def test_an_assertion_holds_for_its_own_request_only(metering: tuple[str, list[Seen]]) -> None:
    url, seen = metering
    client = MeteringClient(url, service_key=KEY)
    try:
        await client.focus("tnt_a", "2026-01")
    finally:
        await client.close()
    (focus,) = seen
    with pytest.raises(Exception, match="another method or path"):
        verify_authorization(KEY, focus.authorization, "GET", "/v1/budgets", time.time())
    with pytest.raises(Exception, match="signature"):
        verify_authorization("another-" + KEY, focus.authorization, "GET", focus.path, time.time())


async def test_the_replica_that_answers_gets_a_valid_assertion(metering: tuple[str, list[Seen]]) -> None:
    url, seen = metering
    client = MeteringClient(f"http://127.0.0.1:{free_port()},{url}", service_key=KEY, timeout_s=2.0)
    try:
        assert await client.focus("tnt_a", "2026-01") == b"file"
    finally:
        await client.close()
    assert scope_of(seen[0]) == ServiceScope.tenant("tnt_a")


async def test_without_a_key_the_reads_go_unsigned(metering: tuple[str, list[Seen]]) -> None:
    url, seen = metering
    client = MeteringClient(url)
    try:
        await client.focus("tnt_a", "2026-01")
    finally:
        await client.close()
    assert seen[0].authorization is None


async def test_a_refusal_by_metering_is_metering_unavailable() -> None:
    class Refusing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook
            self.send_response(401)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = MeteringClient(f"http://127.0.0.1:{server.server_address[1]}", service_key=KEY)
    try:
        with pytest.raises(MeteringUnavailable, match="401"):
            await client.focus("tnt_a", "2026-01")
    finally:
        await client.close()
        server.shutdown()


@pytest.mark.parametrize("key", ["too-short-0123456789", "change-me-metering-api-key-0123456789abcdef"])
def test_the_gateway_does_not_start_with_an_unfit_metering_key(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.delenv("AIFACTORY_ADMIN_KEY", raising=False)
    monkeypatch.delenv("AIFACTORY_ADMIN_KEY_FILE", raising=False)
    monkeypatch.setenv("AIFACTORY_METERING_API_KEY", key)
    started: list[str] = []
    monkeypatch.setattr(gateway_main, "run_http_service", lambda *args: started.append("started"))
    with pytest.raises(SystemExit) as stopped:
        gateway_main.main()
    assert str(stopped.value).startswith("gateway: refusing to start: AIFACTORY_METERING_API_KEY")
    assert key not in str(stopped.value) and started == []
    with pytest.raises(ValueError, match="AIFACTORY_METERING_API_KEY"):
        gateway_main.create_service(GatewaySettings(metering_api_key=key))


def test_the_gateway_reads_the_metering_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_METERING_API_KEY", KEY)
    assert GatewaySettings().metering_api_key.get_secret_value() == KEY
    assert KEY not in repr(GatewaySettings())

"""The gateway reads metering through any of its replicas: one that does not answer is passed over."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from services.gateway.adapters.metering_client import MeteringClient
from services.gateway.app.billing_controls import MeteringUnavailable
from shared.infra.embedded import free_port


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"focus-export")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def live_replica() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def test_a_read_goes_to_the_next_replica_when_the_first_does_not_answer(live_replica: str) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    client = MeteringClient(f"{gone},{live_replica}", timeout_s=2.0)
    try:
        assert await client.focus("t1", "2026-12") == b"focus-export"
        assert await client.focus("t1", "2026-12") == b"focus-export"  # stays with the one that answered
    finally:
        await client.close()


async def test_no_replica_answering_is_metering_unavailable() -> None:
    client = MeteringClient(f"http://127.0.0.1:{free_port()}, http://127.0.0.1:{free_port()}", timeout_s=1.0)
    try:
        with pytest.raises(MeteringUnavailable, match="did not answer: ConnectError"):
            await client.focus("t1", "2026-12")
    finally:
        await client.close()


def test_no_url_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="no metering URL"):
        MeteringClient(" , ")

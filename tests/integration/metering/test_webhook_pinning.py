"""Webhook connections are pinned to the addresses the SSRF check saw (webhook_destinations.py): a DNS
answer that changes after the check (rebinding) is never asked for, let alone used; the request still
names the URL's host (Host header) and TLS verifies the certificate for it (SNI), not for the address.

The resolver is the test's hook (a rebinding DNS server in miniature); the receivers are real servers on
127.0.0.1. Only the first test replaces the network itself, to see which address a connection is opened
to without reaching the internet.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpcore
import httpx
import pytest

from services.metering.webhooks.adapters.destinations import PinnedBackend, PinnedTransport
from services.metering.webhooks.adapters.dispatcher import HttpxWebhookSender

PUBLIC = "93.184.215.14"  # a global address (ipaddress.is_global)
HOST = "hooks.example.test"
RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass
class RebindingResolver:
    """Answers from a script, one answer per question; the last answer repeats. Keeps every question."""

    answers: list[list[str]]
    asked: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """The real network for 127.0.0.1; any other address is recorded and refused (no route here)."""

    def __init__(self) -> None:
        self.connected_to: list[str] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected_to.append(host)
        if host != "127.0.0.1":
            raise httpcore.ConnectError(f"test network: no route to {host}")
        return await self._real.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


@dataclass
class Receiver:
    port: int
    heads: list[bytes] = field(default_factory=list)  # each request's line and headers
    server_names: list[str | None] = field(default_factory=list)  # the SNI of each TLS handshake


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(None) as running:
        yield running


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A test CA and a certificate it signed for HOST only (no IP address in it)."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca, key, request, cert = (
        folder / n for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem")
    )
    extensions = folder / "leaf.ext"
    extensions.write_text(f"subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2"]
        + ["-subj", "/CN=aifactory test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
        + ["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", f"/CN={HOST}"],
        ["x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert]
        + ["-days", "2", "-extfile", extensions],
    ):
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


class serving:
    """A real HTTP(S) receiver on 127.0.0.1 that answers 204 and keeps each request's head."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self._tls = tls
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Receiver:
        received = Receiver(0)

        def note_server_name(sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
            received.server_names.append(name)

        if self._tls is not None:
            self._tls.sni_callback = note_server_name

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received.heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(RESPONSE)
            await writer.drain()
            writer.close()

        self._server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=self._tls)
        received.port = self._server.sockets[0].getsockname()[1]
        return received

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def test_a_rebinding_answer_after_the_check_is_never_asked_for_nor_connected_to(
    receiver: Receiver,
) -> None:
    # Public when checked; the attacker's next answer is the platform's own loopback receiver.
    resolver = RebindingResolver([[PUBLIC], ["127.0.0.1"]])
    network = RecordingNetwork()
    backend = PinnedBackend(allow_internal=False, resolve=resolver, network=network)
    async with httpx.AsyncClient(transport=PinnedTransport(backend), timeout=2.0) as client:
        with pytest.raises(httpx.ConnectError, match=f"no route to {PUBLIC}"):
            await client.post(f"http://{HOST}:{receiver.port}/hooks", content=b"{}")

    assert resolver.asked == [HOST]  # one resolution, checked and used
    assert network.connected_to == [PUBLIC]
    assert receiver.heads == []


async def test_a_host_with_any_internal_answer_is_refused_before_connecting(receiver: Receiver) -> None:
    resolver = RebindingResolver([[PUBLIC, "127.0.0.1"]])
    sender = HttpxWebhookSender(2.0, resolve=resolver)
    try:
        result = await sender.send(f"http://{HOST}:{receiver.port}/hooks", {}, b"{}")
    finally:
        await sender.close()

    assert result.status_code is None
    assert result.error == (
        f"refused: {HOST} resolves to 127.0.0.1, a loopback address "
        "(allow internal receivers with AIFACTORY_WEBHOOK_ALLOW_INTERNAL=true)"
    )
    assert (resolver.asked, receiver.heads) == ([HOST], [])


async def test_each_connection_resolves_once_and_the_request_keeps_the_urls_host(receiver: Receiver) -> None:
    # Internal receivers allowed: the address is still the one resolved, once per connection; a
    # second connection asks again (and, answered with nothing listening, fails instead of reusing).
    resolver = RebindingResolver([["127.0.0.1"], ["127.0.0.2"]])
    sender = HttpxWebhookSender(2.0, allow_internal=True, resolve=resolver)
    try:
        first = await sender.send(f"http://{HOST}:{receiver.port}/hooks", {}, b"{}")
        second = await sender.send(f"http://{HOST}:{receiver.port}/hooks", {}, b"{}")
    finally:
        await sender.close()

    assert (first.status_code, first.error) == (204, None)
    assert len(receiver.heads) == 1
    assert f"\r\nhost: {HOST}:{receiver.port}\r\n".encode() in receiver.heads[0].lower()
    assert resolver.asked == [HOST, HOST]
    assert second.status_code is None and second.error is not None and second.error.startswith("ConnectError")


async def test_tls_verifies_the_certificate_of_the_urls_host_not_of_the_address(
    certificate: tuple[Path, Path, Path],
) -> None:
    ca, cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trusting_the_test_ca = ssl.create_default_context(cafile=str(ca))
    async with serving(server_tls) as receiver:
        resolve_all_here = RebindingResolver([["127.0.0.1"]])
        sender = HttpxWebhookSender(
            2.0, allow_internal=True, resolve=resolve_all_here, verify=trusting_the_test_ca
        )
        try:
            named = await sender.send(f"https://{HOST}:{receiver.port}/hooks", {}, b"{}")
            misnamed = await sender.send(f"https://other.example.test:{receiver.port}/hooks", {}, b"{}")
        finally:
            await sender.close()

    assert (named.status_code, named.error) == (204, None)
    assert receiver.server_names[0] == HOST  # SNI: the URL's host, though the connection went to 127.0.0.1
    assert misnamed.status_code is None and misnamed.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in misnamed.error and "other.example.test" in misnamed.error
    assert len(receiver.heads) == 1  # the misnamed one never got as far as a request

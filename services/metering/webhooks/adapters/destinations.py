"""Webhook connections pinned to the addresses that were checked (SSRF guard, DNS rebinding included).

A tenant's webhook URL names a host; a host whose DNS answer is public when checked and internal a moment
later (rebinding, a short TTL) would slip past a check that resolves on its own before the HTTP client
resolves again to connect. So the check and the connection are one step: the network backend below
resolves the host once per connection, refuses it if any answer is internal (unless the operator allows
internal receivers), and connects to those very addresses. Only the TCP connection uses the address: the
request keeps the URL's host in its Host header, and TLS sends it as SNI and verifies the certificate
against it (httpcore starts TLS with the origin's host name, not the address).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from services.metering.webhooks.domain.rules import internal_address

# The host's addresses, in the resolver's order: (host, port) -> addresses.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
MAX_ERROR_CHARS = 500


class DestinationRefused(Exception):
    """The destination may not be called (or cannot be resolved); the message says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    answers = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host once per connection, checks every answer, and connects to the answers checked."""

    def __init__(
        self,
        *,
        allow_internal: bool,
        resolve: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_internal = allow_internal
        self._resolve = resolve
        self._network = network or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked_addresses(host, port, timeout)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._network.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # the next checked address, as a resolver's caller would try it
        assert failure is not None  # checked_addresses never answers an empty list
        raise failure

    async def checked_addresses(self, host: str, port: int, timeout: float | None = None) -> Sequence[str]:
        try:
            addresses = await asyncio.wait_for(self._resolve(host, port), timeout)
        except (OSError, TimeoutError) as error:
            reason = str(error) or "timed out"
            raise DestinationRefused(_clipped(f"cannot resolve {host!r}: {reason}")) from error
        if not addresses:
            raise DestinationRefused(f"cannot resolve {host!r}: no address")
        if not self._allow_internal:
            for address in addresses:
                if kind := internal_address(address):
                    raise DestinationRefused(
                        f"refused: {host} resolves to {address}, a {kind} address "
                        "(allow internal receivers with AIFACTORY_WEBHOOK_ALLOW_INTERNAL=true)"
                    )
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("webhooks are delivered over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request and error mapping), its connection pool on the pinned backend. No
    proxy from the environment: a proxy would connect on its own resolution."""

    def __init__(self, backend: PinnedBackend, *, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False), network_backend=backend
        )


def _clipped(text: str) -> str:
    return text[:MAX_ERROR_CHARS]

"""The HTTP sender of webhook attempts: one POST to a checked destination, within a deadline, reading a
bounded answer.

An attempt's deadline covers everything: resolving, connecting, sending and the whole response. httpx's
own timeouts apply to each operation, so a receiver that trickles a byte every few seconds would hold the
attempt (and its dispatcher slot) for as long as it likes; the deadline cuts it. Of the response, at
most max_response_bytes are read, undecoded (a compressed answer cannot expand in memory): the status
decides, the body only explains a refusal in the delivery log.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Mapping

import httpx

from services.metering.webhooks.adapters.destinations import (
    MAX_ERROR_CHARS,
    DestinationRefused,
    PinnedBackend,
    PinnedTransport,
    Resolver,
    system_resolver,
)
from services.metering.webhooks.app.ports import AttemptResult
from services.metering.webhooks.domain.rules import WebhookLimits

DEFAULT_MAX_RESPONSE_BYTES = WebhookLimits().max_response_bytes


class HttpxWebhookSender:
    """POSTs with a deadline per attempt and no redirects (a redirect is a failed attempt, logged with
    its status).

    Unless `allow_internal`, a destination whose host resolves to an address that is not globally
    routable is refused without a request (domain.rules.internal_address). The host is resolved once per
    connection, and the connection goes to the very addresses checked (destinations.PinnedBackend), so a
    DNS answer that changes in between (rebinding) cannot redirect it. `resolve` and `verify` are for tests.
    """

    def __init__(
        self,
        timeout_s: float,
        *,
        allow_internal: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        resolve: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self._deadline_s = timeout_s
        self._max_response_bytes = max_response_bytes
        backend = PinnedBackend(allow_internal=allow_internal, resolve=resolve)
        self._client = httpx.AsyncClient(
            transport=PinnedTransport(backend, verify=verify), timeout=timeout_s, follow_redirects=False
        )

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> AttemptResult:
        started = time.perf_counter()
        # The body is read raw: ask for it uncompressed, so that what is logged is legible.
        request_headers = {**headers, "Accept-Encoding": "identity"}
        try:
            async with asyncio.timeout(self._deadline_s):
                async with self._client.stream(
                    "POST", url, content=body, headers=request_headers
                ) as response:
                    head = await read_at_most(response.aiter_raw(), self._max_response_bytes)
        except TimeoutError:
            error = f"no complete answer within the attempt's deadline of {self._deadline_s:g} s"
            return AttemptResult(None, error, _ms_since(started))
        except DestinationRefused as refused:
            return AttemptResult(None, str(refused), _ms_since(started))
        except httpx.HTTPError as error:
            return AttemptResult(
                None, f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS], _ms_since(started)
            )
        if response.is_success:
            return AttemptResult(response.status_code, None, _ms_since(started))
        text = head[:MAX_ERROR_CHARS].decode("utf-8", "replace")
        refusal = f"HTTP {response.status_code}: {text or response.reason_phrase}"
        return AttemptResult(response.status_code, refusal[:MAX_ERROR_CHARS], _ms_since(started))

    async def close(self) -> None:
        await self._client.aclose()


async def read_at_most(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The first `limit` bytes of a stream, asking for no chunk once it has them: the rest is never
    received (leaving the stream unread closes its connection instead of reusing it)."""
    head = bytearray()
    async for chunk in chunks:
        head += chunk[: limit - len(head)]
        if len(head) >= limit:
            break
    return bytes(head)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

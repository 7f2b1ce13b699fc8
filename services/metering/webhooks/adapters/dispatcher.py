"""The background task that sends webhook deliveries: claim what is due, POST each (signed), log the
attempt and schedule a retry with backoff, or give up after the last attempt.

No transaction is held open across an HTTP call: a claim commits first (a lease hides the delivery from
other dispatchers), and each attempt's outcome commits on its own. A dispatcher that dies mid-attempt
leaves the lease to run out, and the delivery is tried again: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

import httpx

from services.metering.webhooks.adapters.destinations import (
    MAX_ERROR_CHARS,
    DestinationRefused,
    PinnedBackend,
    PinnedTransport,
    Resolver,
    system_resolver,
)
from services.metering.webhooks.adapters.store import PgWebhookStore
from services.metering.webhooks.app.ports import AttemptResult, DueDelivery, WebhookSender
from services.metering.webhooks.app.use_cases import delivery_headers, record_outcome
from services.metering.webhooks.domain.rules import DeliveryStatus, RetryPolicy
from shared.clock import Clock
from shared.db.pool import Database

log = logging.getLogger(__name__)


class HttpxWebhookSender:
    """POSTs with a timeout and no redirects (a redirect is a failed attempt, logged with its status).

    Unless `allow_internal`, a destination whose host resolves to an internal address is refused without
    a request (see domain.webhooks.internal_address). The host is resolved once per connection, and the
    connection goes to the very addresses checked (webhook_destinations.PinnedBackend), so a DNS answer
    that changes in between (rebinding) cannot redirect it. `resolve` and `verify` are for tests.
    """

    def __init__(
        self,
        timeout_s: float,
        *,
        allow_internal: bool = False,
        resolve: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        backend = PinnedBackend(allow_internal=allow_internal, resolve=resolve)
        self._client = httpx.AsyncClient(
            transport=PinnedTransport(backend, verify=verify), timeout=timeout_s, follow_redirects=False
        )

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> AttemptResult:
        started = time.perf_counter()
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except DestinationRefused as refused:
            return AttemptResult(None, str(refused), _ms_since(started))
        except httpx.HTTPError as error:
            return AttemptResult(
                None, f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS], _ms_since(started)
            )
        if response.is_success:
            return AttemptResult(response.status_code, None, _ms_since(started))
        refusal = f"HTTP {response.status_code}: {response.text or response.reason_phrase}"
        return AttemptResult(response.status_code, refusal[:MAX_ERROR_CHARS], _ms_since(started))

    async def close(self) -> None:
        await self._client.aclose()


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sender: WebhookSender,
        policy: RetryPolicy,
        *,
        poll_s: float,
        lease_s: float,
        batch_size: int = 50,
        concurrency: int = 10,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._db = db
        self._clock = clock
        self._sender = sender
        self._policy = policy
        self._poll_s = poll_s
        self._lease = timedelta(seconds=lease_s)
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._random_fraction = random_fraction

    async def dispatch_once(self) -> int:
        """One round: every delivery due now gets its attempt; returns how many were attempted."""
        now = self._clock.now()
        async with self._db.transaction() as tx:
            due = await PgWebhookStore(tx.conn).claim_due(now, self._batch_size, now + self._lease)
        await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        return len(due)

    async def _attempt(self, delivery: DueDelivery) -> None:
        async with self._slots:
            timestamp = int(self._clock.now().timestamp())
            headers = delivery_headers(delivery, timestamp)
            result = await self._sender.send(delivery.url, headers, delivery.body)
        async with self._db.transaction() as tx:
            status = await record_outcome(
                PgWebhookStore(tx.conn),
                tx,
                delivery,
                result,
                self._clock.now(),
                self._policy,
                self._random_fraction(),
            )
        log.info(
            "webhook delivery %d (%s) attempt %d to %s: %s",
            delivery.delivery_id,
            delivery.event_type,
            delivery.attempt,
            delivery.url,
            result.status_code or result.error,
        )
        if status is DeliveryStatus.FAILED:
            log.warning(
                "webhook delivery %d gave up after %d attempts", delivery.delivery_id, delivery.attempt
            )

    async def run(self) -> None:
        while True:
            try:
                attempted = await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # PostgreSQL away: claimed deliveries come back when their lease runs out.
                log.exception("webhook dispatch round failed; retrying")
                attempted = 0
            if attempted < self._batch_size:
                await asyncio.sleep(self._poll_s)


async def serve_webhooks(
    db: Database,
    clock: Clock,
    policy: RetryPolicy,
    *,
    timeout_s: float,
    poll_s: float,
    allow_internal: bool = False,
) -> None:
    """The dispatcher with its own HTTP client, for as long as the service runs."""
    sender = HttpxWebhookSender(timeout_s, allow_internal=allow_internal)
    try:
        # The lease outlasts an attempt's timeout by far, so only a dead dispatcher's claims expire.
        await WebhookDispatcher(db, clock, sender, policy, poll_s=poll_s, lease_s=2 * timeout_s + 30).run()
    finally:
        await sender.close()

"""The background task that sends webhook deliveries: claim what is due, POST each (signed), log the
attempt and schedule a retry with backoff, or give up after the last attempt.

No transaction is held open across an HTTP call: a claim commits first (a lease hides the delivery from
other dispatchers), and each attempt's outcome commits on its own. A dispatcher that dies mid-attempt
leaves the lease to run out, and the delivery is tried again: delivery is at least once.

Tenants are served fairly: the dispatcher has `concurrency` slots, claims only as many deliveries as it
has free slots, at most `per_tenant` of one tenant at a time, the tenants in turn (store.CLAIM_DUE_SQL);
and it never waits for a round to finish, so a slot freed by one attempt is filled at once. A tenant
whose endpoint is slow or failing holds at most `per_tenant` slots, each for at most the attempt's
deadline, and another tenant's delivery starts as soon as it is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from services.metering.webhooks.adapters.sender import HttpxWebhookSender
from services.metering.webhooks.adapters.store import PgWebhookStore
from services.metering.webhooks.app.ports import DueDelivery, WebhookSender
from services.metering.webhooks.app.use_cases import delivery_headers, record_outcome
from services.metering.webhooks.domain.rules import DeliveryStatus, RetryPolicy, WebhookLimits
from shared.clock import Clock
from shared.db.pool import Database

__all__ = ["HttpxWebhookSender", "WebhookDispatcher", "serve_webhooks"]  # the sender: where tests look

log = logging.getLogger(__name__)
DEFAULT_LIMITS = WebhookLimits()


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
        concurrency: int = 10,
        per_tenant: int = DEFAULT_LIMITS.max_in_flight_per_tenant,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._db = db
        self._clock = clock
        self._sender = sender
        self._policy = policy
        self._poll_s = poll_s
        self._lease = timedelta(seconds=lease_s)
        self._concurrency = concurrency
        self._per_tenant = min(per_tenant, concurrency)
        self._random_fraction = random_fraction
        self._in_flight: Counter[str] = Counter()  # attempts under way, per tenant
        self._attempts: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    @property
    def in_flight(self) -> dict[str, int]:
        return {tenant: count for tenant, count in self._in_flight.items() if count}

    async def dispatch_once(self) -> int:
        """Claim due deliveries into the free slots, fairly, and start their attempts without waiting
        for them; returns how many were started."""
        free = self._concurrency - len(self._attempts)
        if free <= 0:
            return 0
        now = self._clock.now()
        async with self._db.transaction() as tx:
            due = await PgWebhookStore(tx.conn).claim_due(
                now, free, now + self._lease, self._per_tenant, self.in_flight
            )
        for delivery in due:
            self._in_flight[delivery.tenant_id] += 1
            attempt = asyncio.create_task(self._attempt(delivery), name=f"webhook-{delivery.delivery_id}")
            self._attempts.add(attempt)
            attempt.add_done_callback(partial(self._finished, tenant_id=delivery.tenant_id))
        return len(due)

    def _finished(self, attempt: asyncio.Task[None], tenant_id: str) -> None:
        self._attempts.discard(attempt)
        self._in_flight[tenant_id] -= 1
        self._slot_freed.set()
        if not attempt.cancelled() and (error := attempt.exception()) is not None:
            # PostgreSQL away while recording: the lease runs out and the delivery is tried again.
            log.error("webhook attempt failed to complete", exc_info=error)

    async def _attempt(self, delivery: DueDelivery) -> None:
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
        try:
            while True:
                self._slot_freed.clear()
                try:
                    started = await self.dispatch_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # PostgreSQL away: claimed deliveries come back when their lease runs out.
                    log.exception("webhook dispatch round failed; retrying")
                    started = 0
                if started and len(self._attempts) < self._concurrency:
                    continue  # slots left, and perhaps more due: claim again at once
                # Nothing more due, or every slot taken: look again when a slot frees, or after poll_s.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), self._poll_s)
        finally:
            # Stopping: attempts under way are dropped; their leases run out and they are tried again.
            for attempt in list(self._attempts):
                attempt.cancel()
            await asyncio.gather(*self._attempts, return_exceptions=True)


async def serve_webhooks(
    db: Database,
    clock: Clock,
    policy: RetryPolicy,
    *,
    timeout_s: float,
    poll_s: float,
    allow_internal: bool = False,
    limits: WebhookLimits = DEFAULT_LIMITS,
) -> None:
    """The dispatcher with its own HTTP client, for as long as the service runs; `timeout_s` is each
    attempt's deadline."""
    sender = HttpxWebhookSender(
        timeout_s, allow_internal=allow_internal, max_response_bytes=limits.max_response_bytes
    )
    try:
        # The lease outlasts an attempt's deadline by far, so only a dead dispatcher's claims expire.
        dispatcher = WebhookDispatcher(
            db,
            clock,
            sender,
            policy,
            poll_s=poll_s,
            lease_s=2 * timeout_s + 30,
            per_tenant=limits.max_in_flight_per_tenant,
        )
        await dispatcher.run()
    finally:
        await sender.close()

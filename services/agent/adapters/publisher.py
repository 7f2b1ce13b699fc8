"""Publishes the agent's events straight to JetStream (the agent has no database, hence no outbox).

A publish is retried with backoff until JetStream stores it; the Nats-Msg-Id header (the event id) lets
JetStream drop the copy when a retry follows a publish whose acknowledgement was lost.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext

from services.agent.app.cancellation import raise_if_cancelled
from shared.events.base import Event
from shared.telemetry import current_traceparent

log = logging.getLogger(__name__)


class JetStreamPublisher:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        timeout_s: float = 5.0,
        first_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._js = js
        self._timeout_s = timeout_s
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max_backoff_s

    async def publish(self, event: Event) -> None:
        subject = event.subject()
        body = event.model_dump_json().encode()
        headers = event.headers(current_traceparent())
        backoff = self._first_backoff_s
        attempt = 1
        while True:
            try:
                await self._js.publish(subject, body, headers=headers, timeout=self._timeout_s)
                if attempt > 1:
                    log.info("published %s on %s after %d attempts", event.TYPE, subject, attempt)
                return
            except Exception as error:  # every failure is retried: an event is never dropped
                raise_if_cancelled()
                if attempt == 1 or attempt % 10 == 0:
                    log.warning(
                        "publishing %s on %s failed (attempt %d): %r", event.TYPE, subject, attempt, error
                    )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff_s)
            attempt += 1

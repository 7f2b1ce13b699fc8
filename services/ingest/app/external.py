"""External usage (CloudEvents over HTTP): validate, check the tenant, deduplicate, record.

What is refused is not lost: each refused event (or unreadable request) becomes a dead letter with the
reason and the raw payload, in the same transaction as the events accepted beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ingest.app.ports import IngestStore, UnitOfWork
from services.ingest.domain.cloudevents import batch_items, decode_json, event_attributes, parse_usage_event
from services.ingest.domain.errors import IngestError, UnknownProject, UnknownTenant
from services.ingest.domain.records import external_record
from services.ingest.domain.time_window import TimeLimits
from shared.clock import Clock

HTTP_CONSUMER = "ingest-http"
HTTP_SUBJECT = "POST /v1/usage"


@dataclass(frozen=True)
class Rejection:
    index: int
    code: str
    reason: str


@dataclass
class IngestResult:
    # Valid events, including repeats of events already recorded (accepted, not recorded twice).
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)


class ExternalUsageIngest:
    def __init__(self, unit_of_work: UnitOfWork, clock: Clock, limits: TimeLimits) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._limits = limits

    async def ingest_event(self, body: bytes, request_headers: Mapping[str, str]) -> IngestResult:
        """One event in structured mode. Raises its IngestError, once dead-lettered, when it is refused."""
        now = self._clock.now()
        refused: IngestError | None = None
        result = IngestResult()
        async with self._unit_of_work() as store:
            value: Any = None
            try:
                value = decode_json(body)
                await self._accept(store, value, now, result)
            except IngestError as error:
                headers = {**request_headers, **event_attributes(value)}
                await store.dead_letter(HTTP_CONSUMER, HTTP_SUBJECT, body, headers, _reason(error))
                refused = error
        if refused is not None:
            raise refused
        return result

    async def ingest_batch(self, body: bytes, request_headers: Mapping[str, str]) -> IngestResult:
        """A batch: valid events are recorded, invalid ones dead-lettered and reported by index.

        Raises MalformedBody (once dead-lettered) when the body is not a JSON array at all.
        """
        now = self._clock.now()
        refused: IngestError | None = None
        result = IngestResult()
        async with self._unit_of_work() as store:
            try:
                items = batch_items(decode_json(body))
            except IngestError as error:
                await store.dead_letter(HTTP_CONSUMER, HTTP_SUBJECT, body, request_headers, _reason(error))
                refused = error
                items = []
            for index, item in enumerate(items):
                try:
                    await self._accept(store, item, now, result)
                except IngestError as error:
                    result.rejected.append(Rejection(index, error.code, str(error)))
                    headers = {**request_headers, **event_attributes(item), "batch-index": str(index)}
                    payload = json.dumps(item).encode()
                    await store.dead_letter(
                        HTTP_CONSUMER,
                        HTTP_SUBJECT,
                        payload,
                        headers,
                        f"batch index {index}: {_reason(error)}",
                    )
        if refused is not None:
            raise refused
        return result

    async def reject_request(self, payload: bytes, request_headers: Mapping[str, str], reason: str) -> None:
        """Dead-letter a request refused before its events could be read (too large, wrong media type)."""
        async with self._unit_of_work() as store:
            await store.dead_letter(HTTP_CONSUMER, HTTP_SUBJECT, payload, request_headers, reason)

    async def _accept(self, store: IngestStore, value: Any, now: datetime, result: IngestResult) -> None:
        # Every check comes before the first write, so a refused event leaves nothing behind.
        usage = parse_usage_event(value, now=now, limits=self._limits)
        if not await store.tenant_exists(usage.tenant_id):
            raise UnknownTenant(usage.tenant_id)
        if not await store.project_exists(usage.tenant_id, usage.project_id):
            raise UnknownProject(usage.tenant_id, usage.project_id)
        result.accepted += 1
        if await store.claim_external_key(usage.source, usage.event_id, usage.time):
            await store.emit(external_record(usage))
        else:
            result.duplicates += 1


def _reason(error: IngestError) -> str:
    return f"{error.code}: {error}"

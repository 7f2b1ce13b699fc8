"""The ports ingest's use cases need. PostgreSQL implements them in adapters/; tests use an in-memory fake."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.ingest.domain.allocations import AllocationInterval
from services.ingest.domain.held_samples import ExpiredHold
from shared.events.agent import UsageSampled
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationBound, AllocationReleased


class IngestStore(Protocol):
    """Ingest's state inside one transaction: what is written commits (or rolls back) together."""

    async def claim_sample_keys(self, samples: Sequence[UsageSampled]) -> set[UUID]:
        """Record the samples' natural keys (node, GPU, time); the event ids of those recorded now, not
        of samples whose key was recorded before (or earlier in the same batch)."""
        ...

    async def claim_external_key(self, source: str, event_id: str, event_time: datetime) -> bool:
        """Record a CloudEvent's (source, id); False when that event was already recorded."""
        ...

    async def intervals_on_gpus(
        self, gpu_uuids: Collection[str], earliest: datetime, latest: datetime
    ) -> list[AllocationInterval]:
        """The allocation intervals on these GPUs that overlap [earliest, latest] (open ones included)."""
        ...

    async def hold_samples(self, holds: Sequence[tuple[UsageSampled, Sequence[str]]]) -> None:
        """Keep each sample until each of the allocations it waits for has its release recorded; the
        batch in one statement. Each is held from now (its held_at, for take_expired_holds)."""
        ...

    async def take_held_samples(self, allocation_id: str) -> list[UsageSampled]:
        """Stop holding samples for this allocation's release; those that now wait for none, taken."""
        ...

    async def take_expired_holds(self, held_before: datetime, limit: int) -> list[ExpiredHold]:
        """Stop holding the samples held since before `held_before`, at most `limit` of them, oldest
        first; each with all the allocations it still waited for."""
        ...

    async def save_bound(self, event: AllocationBound) -> None: ...

    async def save_released(self, event: AllocationReleased) -> None: ...

    async def save_tenant(self, tenant_id: str, name: str) -> None: ...

    async def save_project(self, tenant_id: str, project_id: str, name: str) -> None: ...

    async def tenant_exists(self, tenant_id: str) -> bool: ...

    async def project_exists(self, tenant_id: str, project_id: str) -> bool: ...

    async def emit(self, record: UsageRecorded) -> None:
        """Publish after commit (the transactional outbox)."""
        ...

    async def emit_all(self, records: Sequence[UsageRecorded]) -> None:
        """Many records at once. The sample consumer's store publishes them before commit, many to a
        message (adapters/direct_publish.py), so their ids must be deterministic (records.py)."""
        ...

    async def dead_letter(
        self, consumer: str, subject: str, payload: bytes, headers: Mapping[str, str], reason: str
    ) -> None: ...

    async def prune(self, before: datetime) -> int:
        """Delete dedupe keys and released intervals older than `before`; how many rows went."""
        ...


class UnitOfWork(Protocol):
    """Opens a transaction: `async with unit_of_work() as store:` commits on a clean exit."""

    def __call__(self) -> AbstractAsyncContextManager[IngestStore]: ...


@dataclass(frozen=True)
class DeadLetterView:
    id: int
    consumer: str
    subject: str
    event_id: str | None
    reason: str
    failed_at: datetime


class DeadLetterReader(Protocol):
    async def recent_dead_letters(self, limit: int) -> list[DeadLetterView]:
        """The newest dead letters first."""
        ...

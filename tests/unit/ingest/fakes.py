"""An in-memory IngestStore with real transaction semantics (a failed unit of work leaves no trace)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from services.ingest.app.ports import DeadLetterView, IngestStore
from services.ingest.domain.allocations import AllocationInterval
from services.ingest.domain.held_samples import ExpiredHold
from shared.events.agent import UsageSampled
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationBound, AllocationReleased


@dataclass
class FakeDeadLetter:
    consumer: str
    subject: str
    payload: bytes
    headers: dict[str, str]
    reason: str
    failed_at: datetime


@dataclass
class _Allocation:
    event: AllocationBound | AllocationReleased
    gpu_uuids: set[str] = field(default_factory=set)
    released_at: datetime | None = None


@dataclass
class FakeState:
    now: datetime
    sample_keys: dict[tuple[str, str, datetime], UUID] = field(default_factory=dict)
    external_keys: dict[tuple[str, str], datetime] = field(default_factory=dict)
    allocations: dict[str, _Allocation] = field(default_factory=dict)
    tenants: set[str] = field(default_factory=set)
    projects: set[tuple[str, str]] = field(default_factory=set)
    emitted: list[UsageRecorded] = field(default_factory=list)
    # (sample event id, allocation waited for) -> the sample, and when it was held
    held: dict[tuple[UUID, str], UsageSampled] = field(default_factory=dict)
    held_at: dict[tuple[UUID, str], datetime] = field(default_factory=dict)
    hold_calls: int = 0  # statements the PostgreSQL store would run to hold samples
    dead_letters: list[FakeDeadLetter] = field(default_factory=list)


class FakeIngestStore(IngestStore):
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def claim_sample_keys(self, samples: Sequence[UsageSampled]) -> set[UUID]:
        claimed = set()
        for sample in samples:
            key = (sample.node_id, sample.gpu_uuid, sample.occurred_at)
            if key not in self.state.sample_keys:
                self.state.sample_keys[key] = sample.event_id
                claimed.add(sample.event_id)
        return claimed

    async def claim_external_key(self, source: str, event_id: str, event_time: datetime) -> bool:
        if (source, event_id) in self.state.external_keys:
            return False
        self.state.external_keys[(source, event_id)] = event_time
        return True

    async def intervals_on_gpus(
        self, gpu_uuids: Collection[str], earliest: datetime, latest: datetime
    ) -> list[AllocationInterval]:
        intervals = [
            AllocationInterval(
                gpu_uuid=gpu_uuid,
                allocation_id=allocation.event.allocation_id,
                tenant_id=allocation.event.tenant_id,
                project_id=allocation.event.project_id,
                job_id=allocation.event.job_id,
                gpu_model=allocation.event.gpu_model,
                bound_at=allocation.event.bound_at,
                released_at=allocation.released_at,
            )
            for allocation in self.state.allocations.values()
            for gpu_uuid in allocation.gpu_uuids & set(gpu_uuids)
        ]
        return [
            interval
            for interval in intervals
            if interval.bound_at <= latest
            and (interval.released_at is None or interval.released_at >= earliest)
        ]

    async def hold_samples(self, holds: Sequence[tuple[UsageSampled, Sequence[str]]]) -> None:
        self.state.hold_calls += 1
        for sample, waiting_for in holds:
            for allocation_id in waiting_for:
                if (key := (sample.event_id, allocation_id)) not in self.state.held:
                    self.state.held[key] = sample
                    self.state.held_at[key] = self.state.now

    async def take_held_samples(self, allocation_id: str) -> list[UsageSampled]:
        gone = {key: s for key, s in self.state.held.items() if key[1] == allocation_id}
        for key in gone:
            del self.state.held[key]
            del self.state.held_at[key]
        waiting = {event_id for event_id, _ in self.state.held}
        taken = {s.event_id: s for s in gone.values() if s.event_id not in waiting}
        return list(taken.values())

    async def take_expired_holds(self, held_before: datetime, limit: int) -> list[ExpiredHold]:
        state = self.state
        first_held: dict[UUID, datetime] = {}
        for (event_id, _), at in state.held_at.items():
            first_held[event_id] = min(at, first_held.get(event_id, at))
        expired = sorted((at, event_id) for event_id, at in first_held.items() if at < held_before)[:limit]
        holds = []
        for at, event_id in expired:
            keys = sorted(key for key in state.held if key[0] == event_id)
            body = state.held[keys[0]].model_dump_json()
            for key in keys:
                del state.held[key], state.held_at[key]
            holds.append(ExpiredHold(event_id, body, [allocation for _, allocation in keys], at))
        return holds

    async def save_bound(self, event: AllocationBound) -> None:
        allocation = self.state.allocations.setdefault(event.allocation_id, _Allocation(event))
        allocation.gpu_uuids.update(event.gpu_uuids)

    async def save_released(self, event: AllocationReleased) -> None:
        allocation = self.state.allocations.setdefault(event.allocation_id, _Allocation(event))
        allocation.released_at = event.released_at

    async def save_tenant(self, tenant_id: str, name: str) -> None:
        self.state.tenants.add(tenant_id)

    async def save_project(self, tenant_id: str, project_id: str, name: str) -> None:
        self.state.projects.add((tenant_id, project_id))

    async def tenant_exists(self, tenant_id: str) -> bool:
        return tenant_id in self.state.tenants

    async def project_exists(self, tenant_id: str, project_id: str) -> bool:
        return (tenant_id, project_id) in self.state.projects

    async def emit(self, record: UsageRecorded) -> None:
        self.state.emitted.append(record)

    async def emit_all(self, records: Sequence[UsageRecorded]) -> None:
        self.state.emitted.extend(records)

    async def dead_letter(
        self, consumer: str, subject: str, payload: bytes, headers: Mapping[str, str], reason: str
    ) -> None:
        self.state.dead_letters.append(
            FakeDeadLetter(consumer, subject, payload, dict(headers), reason, self.state.now)
        )

    async def prune(self, before: datetime) -> int:
        state = self.state
        old_samples = [key for key in state.sample_keys if key[2] < before]
        old_external = [key for key, at in state.external_keys.items() if at < before]
        old_allocations = [
            key
            for key, a in state.allocations.items()
            if a.released_at is not None and a.released_at < before
        ]
        for key in old_samples:
            del state.sample_keys[key]
        for ext_key in old_external:
            del state.external_keys[ext_key]
        for alloc_key in old_allocations:
            del state.allocations[alloc_key]
        return len(old_samples) + len(old_external) + len(old_allocations)


class FakeUnitOfWork:
    """Commits by keeping the changed state; an exception restores the state from before the unit of work."""

    def __init__(self, state: FakeState) -> None:
        self.state = state
        self.commits = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[IngestStore]:
        before = copy.deepcopy(self.state)
        try:
            yield FakeIngestStore(self.state)
        except BaseException:
            self.state.__dict__.update(before.__dict__)
            raise
        self.commits += 1

    async def recent_dead_letters(self, limit: int) -> list[DeadLetterView]:
        letters = list(enumerate(self.state.dead_letters, start=1))[::-1][:limit]
        return [
            DeadLetterView(
                id=i,
                consumer=d.consumer,
                subject=d.subject,
                event_id=d.headers.get("ce-id"),
                reason=d.reason,
                failed_at=d.failed_at,
            )
            for i, d in letters
        ]

"""An in-memory GatewayStore: same port as the PostgreSQL store, with all-or-nothing transactions."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from services.gateway.app.ports import AuditQuery, GatewayUnitOfWork, JobQuery
from services.gateway.domain.audit import AuditEntry
from services.gateway.domain.model import ApiKey, Invoice, Job, Node, Project, Tenant
from shared.events.base import Event
from shared.events.gateway import PriceBookSet

T = TypeVar("T")


@dataclass
class _State:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    quotas: dict[str, dict[str, int]] = field(default_factory=dict)
    price_books: list[PriceBookSet] = field(default_factory=list)
    outbox: list[Event] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    key_touches: int = 0  # writes of a key's last_used_at


class _Tenants:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, tenant: Tenant) -> None:
        self._s.tenants[tenant.tenant_id] = tenant

    async def get(self, tenant_id: str) -> Tenant | None:
        return self._s.tenants.get(tenant_id)

    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Tenant]:
        found = [t for t in self._s.tenants.values() if tenant_id is None or t.tenant_id == tenant_id]
        return _page(found, lambda t: (t.created_at, t.tenant_id), after, limit)


def _page(found: list[T], key: Callable[[T], Any], after: Any, limit: int | None) -> list[T]:
    """Sorted by `key`, after `after` (None: from the first), at most `limit`: the keyset contract."""
    ordered = sorted(found, key=key)
    return [item for item in ordered if after is None or key(item) > after][:limit]


class _ApiKeys:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, key: ApiKey) -> None:
        self._s.api_keys[key.key_id] = key

    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        return next(
            (k for k in self._s.api_keys.values() if key_hash in (k.key_hash, k.previous_key_hash)), None
        )

    async def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None:
        return self._s.api_keys.get(key_id)

    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[ApiKey]:
        found = [k for k in self._s.api_keys.values() if tenant_id is None or k.tenant_id == tenant_id]
        return _page(found, lambda k: (k.created_at, k.key_id), after, limit)

    async def save(self, key: ApiKey) -> None:
        self._s.api_keys[key.key_id] = replace(key, last_used_at=self._s.api_keys[key.key_id].last_used_at)

    async def touch(self, key_id: str, at: datetime, unless_since: datetime) -> None:
        key = self._s.api_keys[key_id]
        if key.last_used_at is None or key.last_used_at < unless_since:
            self._s.api_keys[key_id] = replace(key, last_used_at=at)
            self._s.key_touches += 1


class _Projects:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, project: Project) -> bool:
        if any(
            p.tenant_id == project.tenant_id and p.name == project.name for p in self._s.projects.values()
        ):
            return False
        self._s.projects[project.project_id] = project
        return True

    async def get(self, project_id: str) -> Project | None:
        return self._s.projects.get(project_id)

    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Project]:
        found = [p for p in self._s.projects.values() if tenant_id is None or p.tenant_id == tenant_id]
        return _page(found, lambda p: (p.created_at, p.project_id), after, limit)


class _Jobs:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, job: Job) -> bool:
        if job.idempotency_key is not None and await self.find_by_idempotency_key(
            job.tenant_id, job.idempotency_key
        ):
            return False
        self._s.jobs[job.job_id] = job
        return True

    async def get(self, job_id: str, *, for_update: bool = False) -> Job | None:
        return self._s.jobs.get(job_id)

    async def find_by_idempotency_key(self, tenant_id: str, key: str) -> Job | None:
        return next(
            (j for j in self._s.jobs.values() if j.tenant_id == tenant_id and j.idempotency_key == key), None
        )

    async def list(self, query: JobQuery) -> list[Job]:
        found = [
            j
            for j in self._s.jobs.values()
            if (query.tenant_id is None or j.tenant_id == query.tenant_id)
            and (query.project_id is None or j.project_id == query.project_id)
            and (query.state is None or j.state == query.state)
            and (
                query.after is None or (j.created_at, j.job_id) < (query.after.created_at, query.after.job_id)
            )
        ]
        found.sort(key=lambda j: (j.created_at, j.job_id), reverse=True)
        return found[: query.limit]

    async def save(self, job: Job) -> None:
        self._s.jobs[job.job_id] = job


class _Nodes:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, node_id: str, *, for_update: bool = False) -> Node | None:
        return self._s.nodes.get(node_id)

    async def save(self, node: Node) -> None:
        self._s.nodes[node.node_id] = node

    async def list(self, after: str | None = None, limit: int | None = None) -> list[Node]:
        return _page(list(self._s.nodes.values()), lambda n: n.node_id, after, limit)


class _Invoices:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        return self._s.invoices.get(invoice_id)

    async def save(self, invoice: Invoice) -> None:
        self._s.invoices[invoice.invoice_id] = invoice

    async def list(
        self,
        tenant_id: str | None,
        period: str | None,
        after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[Invoice]:
        found = [
            i
            for i in self._s.invoices.values()
            if (tenant_id is None or i.tenant_id == tenant_id) and (period is None or i.period == period)
        ]

        # Newest period first, then tenant and invoice id, as the PostgreSQL store orders them.
        def order(period: str, tenant_id: str, invoice_id: str) -> tuple[int, str, str]:
            year, month = period.split("-")
            return (-(int(year) * 12 + int(month)), tenant_id, invoice_id)

        found.sort(key=lambda i: order(i.period, i.tenant_id, i.invoice_id))
        if after is not None:
            found = [i for i in found if order(i.period, i.tenant_id, i.invoice_id) > order(*after)]
        return found[:limit]


class _Quotas:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def set(self, project_id: str, quotas: dict[str, int], set_at: datetime) -> None:
        self._s.quotas.setdefault(project_id, {}).update(quotas)

    async def of_project(self, project_id: str) -> dict[str, int]:
        return dict(sorted(self._s.quotas.get(project_id, {}).items()))


class _PriceBooks:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, version: PriceBookSet) -> None:
        self._s.price_books.append(version)

    async def in_force(self, tenant_id: str, at: datetime) -> PriceBookSet | None:
        def starts(v: PriceBookSet) -> datetime:
            return v.effective_from or v.occurred_at

        found = [v for v in self._s.price_books if v.tenant_id == tenant_id and starts(v) <= at]
        return max(found, key=lambda v: (starts(v), v.occurred_at), default=None)


class _AuditLog:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def append(self, entry: AuditEntry) -> None:
        self._s.audit.append(replace(entry, entry_id=len(self._s.audit) + 1))

    async def list(self, query: AuditQuery) -> list[AuditEntry]:
        found = [
            e
            for e in reversed(self._s.audit)
            if (query.tenant_id is None or e.tenant_id == query.tenant_id)
            and (query.action is None or e.action == query.action)
            and (query.since is None or e.at >= query.since)
            and (query.before_entry_id is None or e.entry_id < query.before_entry_id)
        ]
        return found[: query.limit]


class InMemoryUnitOfWork:
    def __init__(self, state: _State) -> None:
        self.tenants = _Tenants(state)
        self.api_keys = _ApiKeys(state)
        self.projects = _Projects(state)
        self.jobs = _Jobs(state)
        self.nodes = _Nodes(state)
        self.invoices = _Invoices(state)
        self.quotas = _Quotas(state)
        self.price_books = _PriceBooks(state)
        self.audit = _AuditLog(state)
        self._state = state

    async def emit(self, event: Event) -> None:
        self._state.outbox.append(event)

    async def emit_all(self, events: list[Event]) -> None:
        self._state.outbox.extend(events)


class InMemoryStore:
    """Each transaction works on a copy that replaces the state only when the block ends without error."""

    def __init__(self) -> None:
        self.state = _State()

    @property
    def outbox(self) -> list[Event]:
        return self.state.outbox

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[GatewayUnitOfWork]:
        working = copy.deepcopy(self.state)
        yield InMemoryUnitOfWork(working)
        self.state = working

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[GatewayUnitOfWork]:
        # What a read sees; whatever it might change is never kept.
        yield InMemoryUnitOfWork(copy.deepcopy(self.state))

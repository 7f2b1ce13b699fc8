"""The store port: repositories that share one transaction, and the outbox to emit events into.

Everything written through one unit of work, events included, commits or rolls back together.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.gateway.domain.audit import AuditEntry
from services.gateway.domain.model import ApiKey, Invoice, Job, Node, Project, Tenant
from services.gateway.domain.requests import JobPageCursor
from shared.events.base import Event
from shared.events.gateway import PriceBookSet
from shared.events.jobs import JobState


class TenantRepository(Protocol):
    async def add(self, tenant: Tenant) -> None: ...
    async def get(self, tenant_id: str) -> Tenant | None: ...
    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Tenant]:
        """Oldest first by (created_at, tenant_id), after that key, at most `limit`; None: every tenant."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...
    async def find_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key whose secret hashes to `key_hash`, or whose previous secret (rotated) does."""
        ...

    async def get(self, key_id: str, *, for_update: bool = False) -> ApiKey | None: ...
    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[ApiKey]:
        """Oldest first by (created_at, key_id), after that key, at most `limit`; None: every tenant's."""
        ...

    async def save(self, key: ApiKey) -> None:
        """Overwrite what changes: key_hash, previous_key_hash, previous_key_expires_at, revoked_at."""
        ...

    async def touch(self, key_id: str, at: datetime, unless_since: datetime) -> None:
        """last_used_at = `at`, unless it is already `unless_since` or later (no write then)."""
        ...


class ProjectRepository(Protocol):
    async def add(self, project: Project) -> bool:
        """False when the tenant already has a project of that name."""
        ...

    async def get(self, project_id: str) -> Project | None: ...
    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Project]:
        """Oldest first by (created_at, project_id), after that key, at most `limit`."""
        ...


class QuotaRepository(Protocol):
    async def set(self, project_id: str, quotas: dict[str, int], set_at: datetime) -> None:
        """Each model's GPUs replace what was set for that model; other models keep theirs."""
        ...

    async def of_project(self, project_id: str) -> dict[str, int]: ...


class PriceBookRepository(Protocol):
    async def add(self, version: PriceBookSet) -> None: ...

    async def in_force(self, tenant_id: str, at: datetime) -> PriceBookSet | None:
        """The version with the latest effective_from (default: when it was set) at or before `at`;
        of two from the same instant, the one set last."""
        ...


@dataclass(frozen=True)
class JobQuery:
    tenant_id: str | None  # None: every tenant (operator)
    project_id: str | None
    state: JobState | None
    after: JobPageCursor | None
    limit: int


class JobRepository(Protocol):
    async def add(self, job: Job) -> bool:
        """False when the tenant already used the job's idempotency key (nothing is written)."""
        ...

    async def get(self, job_id: str, *, for_update: bool = False) -> Job | None: ...
    async def find_by_idempotency_key(self, tenant_id: str, key: str) -> Job | None: ...

    async def list(self, query: JobQuery) -> list[Job]:
        """Newest first by (created_at, job_id), strictly after the cursor, at most query.limit."""
        ...

    async def save(self, job: Job) -> None:
        """Overwrite the mutable fields: state, reason, version, updated_at, cancel_requested_at."""
        ...


class NodeRepository(Protocol):
    async def get(self, node_id: str, *, for_update: bool = False) -> Node | None: ...
    async def save(self, node: Node) -> None: ...
    async def list(self, after: str | None = None, limit: int | None = None) -> list[Node]:
        """By node id, after `after`, at most `limit` (None: the whole fleet)."""
        ...


class InvoiceRepository(Protocol):
    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None: ...
    async def save(self, invoice: Invoice) -> None: ...
    async def list(
        self,
        tenant_id: str | None,
        period: str | None,
        after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[Invoice]:
        """Newest period first, then by (tenant_id, invoice_id); after that (period, tenant, invoice)."""
        ...


@dataclass(frozen=True)
class AuditQuery:
    tenant_id: str | None  # None: every tenant's entries and the platform's own (operator)
    action: str | None
    since: datetime | None  # entries at or after this instant
    before_entry_id: int | None  # keyset: entries older than this one (None: from the newest)
    limit: int


class AuditLog(Protocol):
    """Append-only: there is no way to change or remove an entry."""

    async def append(self, entry: AuditEntry) -> None: ...

    async def list(self, query: AuditQuery) -> list[AuditEntry]:
        """Newest first (by entry id), strictly before query.before_entry_id, at most query.limit."""
        ...


class GatewayUnitOfWork(Protocol):
    @property
    def tenants(self) -> TenantRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def projects(self) -> ProjectRepository: ...
    @property
    def jobs(self) -> JobRepository: ...
    @property
    def nodes(self) -> NodeRepository: ...
    @property
    def invoices(self) -> InvoiceRepository: ...
    @property
    def quotas(self) -> QuotaRepository: ...
    @property
    def price_books(self) -> PriceBookRepository: ...
    @property
    def audit(self) -> AuditLog: ...

    async def emit(self, event: Event) -> None: ...
    async def emit_all(self, events: list[Event]) -> None: ...


class GatewayStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[GatewayUnitOfWork]: ...

    def reading(self) -> AbstractAsyncContextManager[GatewayUnitOfWork]:
        """For a use case that only reads with one statement: no transaction round trips, no emits."""
        ...

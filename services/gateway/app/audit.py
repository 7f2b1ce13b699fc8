"""The audit log: recording a mutating use case's action in its own unit of work, and reading the log.

Each mutating use case calls `record` inside the transaction that makes its change, after the change,
so the entry commits or rolls back with it (rules: services/gateway/domain/audit.py). The operator
reads every entry (or one tenant's), a tenant's admin its own tenant's; members and viewers none.
"""

from __future__ import annotations

from datetime import datetime

from services.gateway.app.pages import Page, PageRequest, page_of
from services.gateway.app.ports import AuditQuery, GatewayStore, GatewayUnitOfWork
from services.gateway.domain.audit import AuditEntry, check_action, parse_entry_id, parse_since
from services.gateway.domain.auth import Principal, Role, require_role, scope_tenant
from services.gateway.domain.requests import listing_filters


async def record(
    uow: GatewayUnitOfWork,
    principal: Principal,
    action: str,
    target_id: str,
    tenant_id: str | None,
    at: datetime,
) -> None:
    """Append who did `action` to `target_id` (of tenant `tenant_id`) at `at`, in `uow`'s transaction."""
    await uow.audit.append(AuditEntry.of(principal, action, target_id, tenant_id, at))


class AuditTrail:
    def __init__(self, store: GatewayStore) -> None:
        self._store = store

    async def list_entries(
        self,
        principal: Principal,
        tenant_id: str | None = None,
        action: str | None = None,
        since: str | None = None,
        page: PageRequest = PageRequest(),
    ) -> Page[AuditEntry]:
        """Newest first; narrowed to one action and to entries at or after `since` when given."""
        require_role(principal, Role.ADMIN)
        scoped = scope_tenant(principal, tenant_id)
        check_action(action)
        after = parse_since(since)
        filters = listing_filters("audit", scoped, action, after.isoformat() if after else None)
        start = page.start(filters, 1)
        query = AuditQuery(scoped, action, after, parse_entry_id(start[0]) if start else None, page.limit)
        async with self._store.reading() as uow:
            rows = await uow.audit.list(query)
        return page_of(rows, page, filters, lambda e: (str(e.entry_id),))

"""The audit log (GET /v1/audit): who did what to which resource, when, in which request.

The operator reads every entry (or one tenant's, with tenant_id); a tenant's admin its own tenant's
(another tenant_id is a 404); members and viewers none (403). Newest first, in pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.gateway.adapters.http.dependencies import CurrentPrincipal, Paging, UseCases
from services.gateway.adapters.http.schemas import ListPage
from services.gateway.domain.audit import AuditEntry

router = APIRouter(prefix="/v1", tags=["audit"])


class AuditEntryResponse(BaseModel):
    entry_id: int
    at: datetime
    tenant_id: str | None
    actor: str
    key_id: str | None
    role: str
    action: str
    target_id: str
    request_id: str | None
    outcome: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryResponse:
        return cls(
            entry_id=entry.entry_id,
            at=entry.at,
            tenant_id=entry.tenant_id,
            actor=entry.actor,
            key_id=entry.key_id,
            role=entry.role,
            action=entry.action,
            target_id=entry.target_id,
            request_id=entry.request_id,
            outcome=entry.outcome,
        )


class AuditList(ListPage):
    items: list[AuditEntryResponse]


@router.get("/audit", response_model=AuditList)
async def list_audit(
    principal: CurrentPrincipal,
    use_cases: UseCases,
    page: Paging,
    tenant_id: Annotated[str | None, Query(description="operator only: one tenant's entries")] = None,
    action: Annotated[str | None, Query(description="one action, such as job.submit")] = None,
    since: Annotated[
        str | None, Query(description="entries at or after this instant (ISO 8601 with its offset)")
    ] = None,
) -> AuditList:
    """The operator: every entry (or one tenant's); a tenant admin: its own tenant's. Newest first."""
    entries = await use_cases.audit.list_entries(principal, tenant_id, action, since, page)
    return AuditList(
        items=[AuditEntryResponse.of(e) for e in entries.items], next_page_token=entries.next_page_token
    )

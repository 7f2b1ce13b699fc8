"""The audit log's rules: what one entry says, the actions there are, and what a reading may ask.

An entry is written in the same transaction as the action's effect, so a rolled-back action leaves none
and a committed one always has one. Only actions that changed something are recorded (outcome "ok"):
a call refused before any change (401, 403, 404, 409, 422) and a replay that changes nothing (the same
Idempotency-Key again, revoking a revoked key, cancelling a job twice) write nothing. The log is
append-only: no code path updates or deletes an entry, and the database refuses both (migration 0007).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from services.gateway.domain.auth import Principal
from services.gateway.domain.errors import InvalidInput

OPERATOR = "operator"  # the actor (and role) of the platform operator's key
OUTCOME_OK = "ok"

# Every action the gateway records, by the route that does it.
ACTIONS = (
    "tenant.create",  # POST /v1/tenants
    "project.create",  # POST /v1/projects
    "quotas.set",  # PUT /v1/projects/{project_id}/quotas
    "price_book.set",  # PUT /v1/tenants/{tenant_id}/price-book
    "key.create",  # POST /v1/tenants/{tenant_id}/keys
    "key.revoke",  # POST /v1/keys/{key_id}/revoke
    "key.rotate",  # POST /v1/keys/{key_id}/rotate
    "job.submit",  # POST /v1/jobs
    "job.cancel",  # POST /v1/jobs/{job_id}/cancel
    "invoice.finalize",  # POST /v1/invoices/finalize
    "invoice.void",  # POST /v1/invoices/{invoice_id}/void
    "credit.grant",  # POST /v1/tenants/{tenant_id}/credits
    "budget.set",  # PUT /v1/projects/{project_id}/budget, PUT /v1/tenants/{tenant_id}/budget
    "webhook.register",  # POST /v1/tenants/{tenant_id}/webhooks
    "webhook.remove",  # DELETE /v1/tenants/{tenant_id}/webhooks/{endpoint_id}
)

MAX_REQUEST_ID_LENGTH = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


@dataclass(frozen=True)
class AuditEntry:
    at: datetime  # the store's clock when the action took effect
    tenant_id: str | None  # the tenant the action concerns (its admin reads the entry)
    actor: str  # the calling key's tenant id, or "operator"
    key_id: str | None  # the calling key (None: the operator's key)
    role: str  # the key's role, or "operator"
    action: str  # one of ACTIONS
    target_id: str  # what the action was done to: a tenant, project, key, job, invoice, ... id
    request_id: str | None  # the request's X-Request-Id, or its trace id
    outcome: str = OUTCOME_OK
    entry_id: int = 0  # given by the store when appended; newest is highest

    @classmethod
    def of(
        cls, principal: Principal, action: str, target_id: str, tenant_id: str | None, at: datetime
    ) -> AuditEntry:
        assert action in ACTIONS, action
        return cls(
            at=at,
            tenant_id=tenant_id,
            actor=principal.tenant_id or OPERATOR,
            key_id=principal.key_id,
            role=principal.role.value if principal.role is not None else OPERATOR,
            action=action,
            target_id=target_id,
            request_id=principal.request_id,
        )


def check_action(action: str | None) -> None:
    if action is not None and action not in ACTIONS:
        raise InvalidInput.one("action", f"unknown action {action!r}; one of {', '.join(ACTIONS)}", "query")


def parse_since(since: str | None) -> datetime | None:
    """An instant with its UTC offset (ISO 8601), as a `since` filter gives it."""
    if since is None:
        return None
    try:
        moment = datetime.fromisoformat(since)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidInput.one(
            "since", "must be an ISO 8601 instant with its offset, such as 2026-01-01T00:00:00Z", "query"
        ) from error


def parse_entry_id(part: str) -> int:
    """The entry id a page token's key carries; refused when it is not one."""
    if not part.isdigit() or len(part) > 18:
        raise InvalidInput.one("page_token", "is not a page token issued by this API", "query")
    return int(part)


def clean_request_id(presented: str | None) -> str | None:
    """A caller's X-Request-Id, when it is short plain text; anything else is ignored, not stored."""
    if presented is None or not _REQUEST_ID.fullmatch(presented):
        return None
    return presented

"""Budgets and webhook endpoints: set through the gateway as events to metering, read back from metering.

Setting one emits an event (BudgetSet, WebhookEndpointSet, WebhookEndpointRemoved) that metering applies
shortly after; reading asks metering's internal API for what it holds (the spend and forecast of a
budget, the delivery log of an endpoint, in pages like every list).

Who may: a tenant's admin, or the operator, sets budgets and manages webhooks; any key of the tenant
reads its budgets; only admins read the webhooks and their delivery log.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pricing.budgets import DEFAULT_THRESHOLDS, OnExhaustion, budget_problems
from pricing.periods import period_problems
from services.gateway.app.audit import record
from services.gateway.app.pages import Page, PageRequest
from services.gateway.app.ports import GatewayStore, GatewayUnitOfWork
from services.gateway.domain.auth import Principal, Role, require_role, require_tenant_access, scope_tenant
from services.gateway.domain.billing_controls import (
    budget_id_for,
    generate_webhook_secret,
    new_endpoint_id,
)
from services.gateway.domain.errors import GatewayError, InvalidInput, NotFound, refuse
from services.gateway.domain.pages import PageCursor
from services.gateway.domain.requests import listing_filters
from shared.clock import Clock
from shared.contracts.metering_api import (
    BudgetStatus,
    Delivery,
    TenantBudgets,
    TenantDeliveries,
    TenantWebhooks,
)
from shared.contracts.webhook_endpoints import destination_problems, endpoint_problems
from shared.events.gateway import BudgetSet, WebhookEndpointRemoved, WebhookEndpointSet


class MeteringUnavailable(GatewayError):
    code = "metering-unavailable"
    title = "Metering unavailable"


class MeteringReader(Protocol):
    """Metering's internal API (shared/contracts/metering_api.py). Raises MeteringUnavailable."""

    async def budgets(self, tenant_id: str, period: str | None) -> TenantBudgets: ...
    async def webhooks(self, tenant_id: str) -> TenantWebhooks: ...
    async def deliveries(
        self, tenant_id: str, endpoint_id: str | None, limit: int, after: str | None
    ) -> TenantDeliveries:
        """A page of at most `limit`; `after`: the next_cursor of the page before (InvalidInput naming
        page_token when metering refuses it)."""
        ...


@dataclass(frozen=True)
class SetBudget:
    tenant_id: str | None  # a tenant budget names its tenant
    project_id: str | None  # a project budget names its project (the tenant is the project's)
    amount: Decimal
    currency: str | None = None  # None: the tenant's currency
    thresholds_percent: tuple[Decimal, ...] = DEFAULT_THRESHOLDS
    hard_cap: bool = False
    on_exhaustion: OnExhaustion = OnExhaustion.CONTINUE


@dataclass(frozen=True)
class ScopedBudget:
    """One budget of a project or tenant, as metering holds it in the current period."""

    tenant_id: str
    period: str
    status: BudgetStatus


@dataclass(frozen=True)
class RegisterWebhook:
    tenant_id: str
    url: str
    secret: str | None = None  # None: generated, and shown once
    event_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisteredWebhook:
    event: WebhookEndpointSet
    generated_secret: str | None


class BillingControls:
    def __init__(
        self,
        store: GatewayStore,
        clock: Clock,
        metering: MeteringReader | None,
        *,
        allow_non_global_webhooks: bool = False,
    ) -> None:
        self._store = store
        self._clock = clock
        self._metering = metering
        # An operator whose receivers live in its own network lets tenants name their addresses (as
        # AIFACTORY_WEBHOOK_ALLOW_INTERNAL lets metering deliver there).
        self._allow_non_global_webhooks = allow_non_global_webhooks

    async def set_budget(self, principal: Principal, command: SetBudget) -> BudgetSet:
        require_role(principal, Role.ADMIN)
        refuse(budget_problems(command.amount, command.currency, command.thresholds_percent))
        async with self._store.transaction() as uow:
            tenant_id, scope_id = await _scope(uow, principal, command.tenant_id, command.project_id)
            tenant = await uow.tenants.get(tenant_id)
            if tenant is None:
                raise NotFound("tenant", tenant_id)
            currency = command.currency or tenant.currency
            if currency != tenant.currency:
                raise InvalidInput.one(
                    "currency", f"{currency} differs from the tenant's currency {tenant.currency}"
                )
            event = BudgetSet(
                occurred_at=self._clock.now(),
                tenant_id=tenant_id,
                budget_id=budget_id_for(scope_id),
                project_id=command.project_id,
                amount=command.amount,
                currency=currency,
                thresholds_percent=sorted(command.thresholds_percent),
                hard_cap=command.hard_cap,
                on_exhaustion=command.on_exhaustion,
            )
            await uow.emit(event)
            await record(uow, principal, "budget.set", event.budget_id, tenant_id, event.occurred_at)
        return event

    async def budgets(self, principal: Principal, tenant_id: str | None, period: str | None) -> TenantBudgets:
        """The tenant's budgets in the period (default: the current one), with spend and forecast."""
        scoped = scope_tenant(principal, tenant_id)
        if scoped is None:
            raise InvalidInput.one("tenant_id", "the operator must name the tenant", "query")
        if period is not None:
            refuse(period_problems(period), "query")
        return await self._reader().budgets(scoped, period)

    async def budget(
        self, principal: Principal, tenant_id: str | None, project_id: str | None
    ) -> ScopedBudget:
        """One budget of a project or tenant, with its current period (NotFound until metering holds it)."""
        async with self._store.reading() as uow:
            tenant_id, scope_id = await _scope(uow, principal, tenant_id, project_id)
        listing = await self.budgets(principal, tenant_id, None)
        budget_id = budget_id_for(scope_id)
        found = next((item for item in listing.items if item.budget_id == budget_id), None)
        if found is None:
            raise NotFound("budget", budget_id)
        return ScopedBudget(tenant_id, listing.period, found)

    async def register_webhook(self, principal: Principal, command: RegisterWebhook) -> RegisteredWebhook:
        require_tenant_access(principal, command.tenant_id, "tenant", command.tenant_id)
        require_role(principal, Role.ADMIN)
        secret = command.secret if command.secret is not None else generate_webhook_secret()
        # A literal address that is not globally routable is refused here, at once; a host name is
        # judged by what it resolves to, by metering at each delivery.
        refuse(
            endpoint_problems(command.url, secret, command.event_types)
            + destination_problems(command.url, allow_non_global=self._allow_non_global_webhooks)
        )
        async with self._store.transaction() as uow:
            if await uow.tenants.get(command.tenant_id) is None:
                raise NotFound("tenant", command.tenant_id)
            event = WebhookEndpointSet(
                occurred_at=self._clock.now(),
                tenant_id=command.tenant_id,
                endpoint_id=new_endpoint_id(),
                url=command.url,
                secret=secret,
                event_types=sorted(set(command.event_types)),
            )
            await uow.emit(event)
            at = event.occurred_at
            await record(uow, principal, "webhook.register", event.endpoint_id, event.tenant_id, at)
        return RegisteredWebhook(event, secret if command.secret is None else None)

    async def remove_webhook(
        self, principal: Principal, tenant_id: str, endpoint_id: str
    ) -> WebhookEndpointRemoved:
        require_tenant_access(principal, tenant_id, "tenant", tenant_id)
        require_role(principal, Role.ADMIN)
        event = WebhookEndpointRemoved(
            occurred_at=self._clock.now(), tenant_id=tenant_id, endpoint_id=endpoint_id
        )
        async with self._store.transaction() as uow:
            await uow.emit(event)
            await record(uow, principal, "webhook.remove", endpoint_id, tenant_id, event.occurred_at)
        return event

    async def webhooks(self, principal: Principal, tenant_id: str) -> TenantWebhooks:
        require_tenant_access(principal, tenant_id, "tenant", tenant_id)
        require_role(principal, Role.ADMIN)
        return await self._reader().webhooks(tenant_id)

    async def deliveries(
        self,
        principal: Principal,
        tenant_id: str,
        endpoint_id: str | None,
        page: PageRequest = PageRequest(),
    ) -> Page[Delivery]:
        """The delivery log in pages, newest first. The page token wraps metering's cursor and is bound
        to the tenant and endpoint filter, so another tenant's token, or another endpoint's, is refused."""
        require_tenant_access(principal, tenant_id, "tenant", tenant_id)
        require_role(principal, Role.ADMIN)
        filters = listing_filters("deliveries", tenant_id, endpoint_id)
        start = page.start(filters, 1)
        answer = await self._reader().deliveries(
            tenant_id, endpoint_id, page.page_size, start[0] if start else None
        )
        following = answer.next_cursor
        return Page(answer.items, PageCursor((following,), filters).encode() if following else None)

    def _reader(self) -> MeteringReader:
        if self._metering is None:
            raise MeteringUnavailable("this gateway has no metering API configured")
        return self._metering


async def _scope(
    uow: GatewayUnitOfWork, principal: Principal, tenant_id: str | None, project_id: str | None
) -> tuple[str, str]:
    """(tenant, scope id) of a project's budget, or of a tenant's, once the principal may see it."""
    if project_id is not None:
        project = await uow.projects.get(project_id)
        if project is None:
            raise NotFound("project", project_id)
        require_tenant_access(principal, project.tenant_id, "project", project_id)
        return project.tenant_id, project.project_id
    if tenant_id is None:
        raise InvalidInput.one("tenant_id", "a budget is of a project or of a tenant")
    require_tenant_access(principal, tenant_id, "tenant", tenant_id)
    return tenant_id, tenant_id

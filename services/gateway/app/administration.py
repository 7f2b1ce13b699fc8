"""Tenants (each with its first admin key), projects, quotas and price books; keys: app/keys.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pricing.meters import gpu_model_problems
from pricing.money import currency_problems
from pricing.price_books import price_book_problems
from services.gateway.app.audit import record
from services.gateway.app.pages import Page, PageRequest, page_of
from services.gateway.app.ports import GatewayStore, GatewayUnitOfWork
from services.gateway.domain.auth import (
    Principal,
    Role,
    generate_api_key,
    require_operator,
    require_role,
    require_tenant_access,
    scope_tenant,
)
from services.gateway.domain.errors import Conflict, FieldError, InvalidInput, NotFound, field_errors, refuse
from services.gateway.domain.model import (
    ApiKey,
    Node,
    Project,
    Tenant,
    new_key_id,
    new_project_id,
    new_tenant_id,
)
from services.gateway.domain.pages import key_time
from services.gateway.domain.requests import listing_filters
from shared.clock import Clock
from shared.events.base import Event
from shared.events.gateway import (
    CommitmentSpec,
    PriceBookSet,
    PricePlanSpec,
    ProjectCreated,
    QuotaSet,
    TenantCreated,
)
from shared.events.priority_classes import PriorityClasses

FIRST_ADMIN_KEY_NAME = "first admin"


@dataclass(frozen=True)
class CreateTenant:
    name: str
    currency: str = "USD"


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    admin_key: str  # plaintext, shown once


@dataclass(frozen=True)
class CreateProject:
    name: str
    tenant_id: str | None = None  # the operator names the tenant; a tenant key defaults to its own
    max_priority_class: str | None = None  # operator only; None: the default class


@dataclass(frozen=True)
class SetQuotas:
    project_id: str
    quotas: dict[str, int]


@dataclass(frozen=True)
class SetPriceBook:
    tenant_id: str
    gpu_hour: dict[str, Decimal]
    currency: str | None = None  # None: the tenant's currency
    per_1k_tokens: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)
    per_kwh: Decimal = Decimal(0)
    plans: tuple[PricePlanSpec, ...] = ()  # tiered / package / per-unit plans overriding the prices above
    commitments: tuple[CommitmentSpec, ...] = ()
    effective_from: datetime | None = None  # None: now


class Administration:
    def __init__(self, store: GatewayStore, clock: Clock, classes: PriorityClasses | None = None) -> None:
        self._store = store
        self._clock = clock
        self._classes = classes or PriorityClasses()

    async def create_tenant(self, principal: Principal, command: CreateTenant) -> CreatedTenant:
        require_operator(principal)
        refuse(currency_problems(command.currency))
        now = self._clock.now()
        tenant = Tenant(new_tenant_id(), command.name, command.currency, now)
        secret = generate_api_key()
        key = ApiKey(new_key_id(), tenant.tenant_id, Role.ADMIN, FIRST_ADMIN_KEY_NAME, secret.key_hash, now)
        async with self._store.transaction() as uow:
            await uow.tenants.add(tenant)
            await uow.api_keys.add(key)
            await uow.emit(
                TenantCreated(
                    occurred_at=now, tenant_id=tenant.tenant_id, name=tenant.name, currency=tenant.currency
                )
            )
            await record(uow, principal, "tenant.create", tenant.tenant_id, tenant.tenant_id, now)
        return CreatedTenant(tenant, secret.plaintext)

    async def list_tenants(self, principal: Principal, page: PageRequest = PageRequest()) -> Page[Tenant]:
        """The operator: every tenant; a tenant key: its own. Oldest first."""
        scoped = scope_tenant(principal, None)
        filters = listing_filters("tenants", scoped)
        start = page.start(filters, 2)
        after = (key_time(start[0]), start[1]) if start else None
        async with self._store.reading() as uow:
            rows = await uow.tenants.list(scoped, after, page.limit)
        return page_of(rows, page, filters, lambda t: (t.created_at.isoformat(), t.tenant_id))

    async def create_project(self, principal: Principal, command: CreateProject) -> Project:
        require_role(principal, Role.ADMIN)
        tenant_id = scope_tenant(principal, command.tenant_id)
        if tenant_id is None:
            raise InvalidInput.one("tenant_id", "the operator must name the tenant the project belongs to")
        if command.max_priority_class is not None:
            # What a project may preempt others with is the operator's to give.
            require_operator(principal)
            if command.max_priority_class not in self._classes.values:
                raise InvalidInput.one(
                    "max_priority_class",
                    f"unknown priority class {command.max_priority_class!r}; one of {self._classes.names()}",
                )
        now = self._clock.now()
        project = Project(new_project_id(), tenant_id, command.name, now, command.max_priority_class)
        async with self._store.transaction() as uow:
            await _tenant(uow, tenant_id)
            if not await uow.projects.add(project):
                raise Conflict(f"tenant {tenant_id} already has a project named {command.name!r}")
            await uow.emit(
                ProjectCreated(
                    occurred_at=now, tenant_id=tenant_id, project_id=project.project_id, name=project.name
                )
            )
            await record(uow, principal, "project.create", project.project_id, tenant_id, now)
        return project

    async def list_projects(
        self, principal: Principal, tenant_id: str | None = None, page: PageRequest = PageRequest()
    ) -> Page[Project]:
        """Oldest first."""
        scoped = scope_tenant(principal, tenant_id)
        filters = listing_filters("projects", scoped)
        start = page.start(filters, 2)
        after = (key_time(start[0]), start[1]) if start else None
        async with self._store.reading() as uow:
            rows = await uow.projects.list(scoped, after, page.limit)
        return page_of(rows, page, filters, lambda p: (p.created_at.isoformat(), p.project_id))

    async def set_quotas(self, principal: Principal, command: SetQuotas) -> Project:
        require_operator(principal)
        errors = field_errors(gpu_model_problems("quotas", command.quotas))
        errors += [
            FieldError(f"quotas.{model}", f"must be 0 or more GPUs, not {gpus}")
            for model, gpus in command.quotas.items()
            if gpus < 0
        ]
        if not command.quotas:
            errors.append(FieldError("quotas", "name at least one GPU model"))
        if errors:
            raise InvalidInput(errors)
        now = self._clock.now()
        async with self._store.transaction() as uow:
            project = await uow.projects.get(command.project_id)
            if project is None:
                raise NotFound("project", command.project_id)
            outside_fleet = _models_outside_fleet(command.quotas, await uow.nodes.list())
            if outside_fleet:
                raise InvalidInput(outside_fleet)
            await uow.quotas.set(project.project_id, command.quotas, now)
            events: list[Event] = [
                QuotaSet(
                    occurred_at=now,
                    tenant_id=project.tenant_id,
                    project_id=project.project_id,
                    gpu_model=model,
                    gpus=gpus,
                )
                for model, gpus in sorted(command.quotas.items())
            ]
            await uow.emit_all(events)
            await record(uow, principal, "quotas.set", project.project_id, project.tenant_id, now)
        return project

    async def quotas(self, principal: Principal, project_id: str) -> tuple[Project, dict[str, int]]:
        """The project's tenant (any role) or the operator: the GPUs per model last set."""
        async with self._store.reading() as uow:
            project = await uow.projects.get(project_id)
            if project is None:
                raise NotFound("project", project_id)
            require_tenant_access(principal, project.tenant_id, "project", project_id)
            return project, await uow.quotas.of_project(project_id)

    async def price_book(self, principal: Principal, tenant_id: str) -> PriceBookSet:
        """The tenant (any role) or the operator: the version in force now."""
        require_tenant_access(principal, tenant_id, "tenant", tenant_id)
        async with self._store.reading() as uow:
            await _tenant(uow, tenant_id)
            version = await uow.price_books.in_force(tenant_id, self._clock.now())
        if version is None:
            raise NotFound("price book of tenant", tenant_id)
        return version

    async def set_price_book(self, principal: Principal, command: SetPriceBook) -> PriceBookSet:
        require_operator(principal)
        errors = field_errors(price_book_problems(command))
        now = self._clock.now()
        if command.effective_from is not None and command.effective_from < now:
            # Usage already rated keeps the prices it was rated with: versions start now or later.
            errors.append(FieldError("effective_from", f"must not be in the past (now is {now.isoformat()})"))
        if errors:
            raise InvalidInput(errors)
        async with self._store.transaction() as uow:
            tenant = await _tenant(uow, command.tenant_id)
            currency = command.currency or tenant.currency
            if currency != tenant.currency:
                raise InvalidInput.one(
                    "currency", f"{currency} differs from the tenant's currency {tenant.currency}"
                )
            event = PriceBookSet(
                occurred_at=now,
                tenant_id=tenant.tenant_id,
                currency=currency,
                gpu_hour=dict(command.gpu_hour),
                per_1k_tokens=command.per_1k_tokens,
                per_request=command.per_request,
                per_kwh=command.per_kwh,
                plans=list(command.plans),
                commitments=list(command.commitments),
                effective_from=command.effective_from,
            )
            await uow.price_books.add(event)
            await uow.emit(event)
            await record(uow, principal, "price_book.set", tenant.tenant_id, tenant.tenant_id, now)
        return event


def _models_outside_fleet(quotas: dict[str, int], fleet: list[Node]) -> list[FieldError]:
    """A quota of GPUs on a model no node has could never be used: most likely a typo. Before any node
    has reported the fleet is unknown, so nothing is refused; a quota of 0 (none allowed) always stands."""
    models = sorted({node.gpu_model for node in fleet})
    if not models:
        return []
    return [
        FieldError(
            f"quotas.{model}",
            f"no node in the fleet has {model!r} GPUs (the fleet has {', '.join(models)})",
        )
        for model, gpus in sorted(quotas.items())
        if gpus > 0 and model not in models
    ]


async def _tenant(uow: GatewayUnitOfWork, tenant_id: str) -> Tenant:
    tenant = await uow.tenants.get(tenant_id)
    if tenant is None:
        raise NotFound("tenant", tenant_id)
    return tenant

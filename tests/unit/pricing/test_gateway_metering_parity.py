"""The gateway's edge and metering accept and refuse the same pricing inputs (parity_cases.py): one
table, run through the gateway's use cases and through metering's recording use cases."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.gateway.app.administration import CreateTenant, SetPriceBook
from services.gateway.app.billing_and_fleet import GrantCredit
from services.gateway.app.billing_controls import RegisterWebhook, SetBudget
from services.gateway.domain.errors import InvalidInput
from services.metering.budgets.app.use_cases import record_budget
from services.metering.domain.errors import REFUSED_INPUT
from services.metering.invoicing.app import invoices, rating
from services.metering.webhooks.app.use_cases import record_endpoint
from shared.events.gateway import (
    BudgetSet,
    CommitmentSpec,
    CreditGranted,
    PriceBookSet,
    PricePlanSpec,
    TenantCreated,
    WebhookEndpointSet,
)
from tests.unit.gateway.test_use_cases import OPERATOR, World
from tests.unit.metering.invoicing.fake_store import FakeMeteringStore
from tests.unit.metering.test_billing_event_use_cases import Budgets, Outbox, Webhooks
from tests.unit.pricing.parity_cases import CASES, Case

NOW = datetime(2026, 1, 15, tzinfo=UTC)
TENANT = "tnt_parity"


def _decimals(terms: dict[str, Any], *names: str) -> dict[str, Decimal]:
    return {name: Decimal(terms[name]) for name in names if name in terms}


async def gateway_accepts(case: Case) -> bool:
    """The case through the gateway's use case, as its HTTP routes call it: InvalidInput is a 422."""
    world = World()
    terms = case.terms
    try:
        if case.rule == "currency":
            await world.cases.administration.create_tenant(OPERATOR, CreateTenant("acme", terms["currency"]))
            return True
        created = await world.cases.administration.create_tenant(
            OPERATOR, CreateTenant("acme", case.tenant_currency)
        )
        tenant_id = created.tenant.tenant_id
        match case.rule:
            case "price_book":
                command = SetPriceBook(
                    tenant_id,
                    _decimals(terms.get("gpu_hour", {}), *terms.get("gpu_hour", {})),
                    currency=terms.get("currency"),
                    plans=tuple(PricePlanSpec.model_validate(plan) for plan in terms.get("plans", [])),
                    commitments=tuple(CommitmentSpec.model_validate(c) for c in terms.get("commitments", [])),
                    **_decimals(terms, "per_1k_tokens", "per_request", "per_kwh"),
                )
                await world.cases.administration.set_price_book(OPERATOR, command)
            case "budget":
                thresholds = tuple(Decimal(t) for t in terms.get("thresholds_percent", ["50", "80", "100"]))
                budget = SetBudget(
                    tenant_id, None, Decimal(terms["amount"]), terms.get("currency"), thresholds
                )
                await world.cases.billing_controls.set_budget(OPERATOR, budget)
            case "credit":
                await world.cases.billing.grant_credit(
                    OPERATOR, GrantCredit(tenant_id, Decimal(terms["amount"]))
                )
            case "webhook":
                webhook = RegisterWebhook(
                    tenant_id, terms["url"], terms["secret"], tuple(terms["event_types"])
                )
                await world.cases.billing_controls.register_webhook(OPERATOR, webhook)
    except InvalidInput:
        return False
    return True


def metering_events(case: Case) -> list[Any]:
    """What metering receives for the case, as the gateway would write it: the tenant, then the case's
    event (the gateway fills in the tenant's currency where the input names none)."""
    terms = case.terms
    tenant_currency = terms["currency"] if case.rule == "currency" else case.tenant_currency
    tenant = TenantCreated(occurred_at=NOW, tenant_id=TENANT, name="acme", currency=tenant_currency)
    common = {"occurred_at": NOW, "tenant_id": TENANT, "currency": case.tenant_currency}
    match case.rule:
        case "currency":
            return [tenant]
        case "price_book":
            event: Any = PriceBookSet.model_validate(common | {"gpu_hour": {}} | terms)
        case "budget":
            defaults = {"budget_id": f"bud_{TENANT}", "thresholds_percent": ["50", "80", "100"]}
            event = BudgetSet.model_validate(common | defaults | terms)
        case "credit":
            event = CreditGranted.model_validate(common | {"grant_id": "crd_1"} | terms)
        case "webhook":
            event = WebhookEndpointSet(occurred_at=NOW, tenant_id=TENANT, endpoint_id="whk_1", **terms)
    return [tenant, event]


async def metering_accepts(case: Case) -> bool:
    """The case's events through metering's recording use cases, as its consumers run them: what they
    refuse (REFUSED_INPUT) is dead-lettered."""
    store, budgets = FakeMeteringStore(), Budgets(currencies={TENANT: case.tenant_currency})
    try:
        for event in metering_events(case):
            match event:
                case TenantCreated():
                    await rating.record_tenant(store, event)
                case PriceBookSet():
                    await rating.record_price_book(store, event)
                case BudgetSet():
                    await record_budget(budgets, Outbox(), event, NOW)
                case CreditGranted():
                    await invoices.grant_credit(store, event)
                case WebhookEndpointSet():
                    await record_endpoint(Webhooks(), event)
    except REFUSED_INPUT:
        return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[f"{case.rule}: {case.name}" for case in CASES])
async def test_gateway_and_metering_accept_and_refuse_the_same_inputs(case: Case) -> None:
    assert (await gateway_accepts(case), await metering_accepts(case)) == (case.valid, case.valid)

"""One table of pricing inputs, each with whether it is valid: the gateway's edge and metering must both
accept the valid ones and both refuse the others (test_gateway_metering_parity.py runs it through both).

Each case is a rule's input as the gateway receives it and as metering receives it in the gateway's event:
a tenant's currency (TenantCreated), a price book (PriceBookSet), a budget (BudgetSet), a credit grant
(CreditGranted) or a webhook endpoint (WebhookEndpointSet), for a tenant billed in `tenant_currency`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Rule = Literal["currency", "price_book", "budget", "credit", "webhook"]


@dataclass(frozen=True)
class Case:
    name: str
    rule: Rule
    valid: bool
    terms: dict[str, Any] = field(default_factory=dict)
    tenant_currency: str = "USD"


def _plan(**terms: Any) -> dict[str, Any]:
    return {"meter": "gpu_hours", "gpu_model": "H100", "kind": "per_unit", "unit_price": "2"} | terms


def _tiers(*bounds: str | None) -> list[dict[str, Any]]:
    return [{"up_to": bound, "unit_price": "1"} for bound in bounds]


def _commitment(**terms: Any) -> dict[str, Any]:
    return {"commitment_id": "c1", "kind": "spend", "committed": "100", "discount": "0.2"} | terms


def _prices(**terms: Any) -> dict[str, Any]:
    return {"gpu_hour": {"H100": "2.50"}} | terms


CURRENCIES = [
    Case("USD", "currency", True, {"currency": "USD"}),
    Case("JPY", "currency", True, {"currency": "JPY"}),
    Case("BHD", "currency", True, {"currency": "BHD"}),
    Case("XYZ is no ISO 4217 code", "currency", False, {"currency": "XYZ"}),
    Case("usd in lower case", "currency", False, {"currency": "usd"}),
    Case("two letters", "currency", False, {"currency": "US"}),
    Case("empty", "currency", False, {"currency": ""}),
]

PRICE_BOOKS = [
    Case("per-unit prices", "price_book", True, _prices(per_kwh="0.12", per_request="0.001")),
    Case("a JPY book for a JPY tenant", "price_book", True, _prices(currency="JPY"), tenant_currency="JPY"),
    Case("an XYZ book", "price_book", False, _prices(currency="XYZ")),
    Case("a negative price", "price_book", False, _prices(per_kwh="-0.1")),
    Case("a blank GPU model", "price_book", False, {"gpu_hour": {" ": "2"}}),
    Case("a GPU model of 65 characters", "price_book", False, {"gpu_hour": {"x" * 65: "2"}}),
    Case("a per-unit plan", "price_book", True, _prices(plans=[_plan()])),
    Case(
        "a graduated plan",
        "price_book",
        True,
        _prices(plans=[_plan(kind="tiered", tiers=_tiers("10", None))]),
    ),
    Case(
        "a volume plan",
        "price_book",
        True,
        _prices(plans=[_plan(kind="tiered", mode="volume", tiers=_tiers("10", "20", None))]),
    ),
    Case(
        "a package plan",
        "price_book",
        True,
        _prices(
            plans=[
                _plan(meter="tokens_1k", gpu_model=None, kind="package", block_size="100", block_price="5")
            ]
        ),
    ),
    Case("a per-unit plan without its price", "price_book", False, _prices(plans=[_plan(unit_price=None)])),
    Case(
        "tiers not rising",
        "price_book",
        False,
        _prices(plans=[_plan(kind="tiered", tiers=_tiers("10", "5", None))]),
    ),
    Case(
        "a bounded last tier", "price_book", False, _prices(plans=[_plan(kind="tiered", tiers=_tiers("10"))])
    ),
    Case("no tiers", "price_book", False, _prices(plans=[_plan(kind="tiered", tiers=[])])),
    Case(
        "a negative flat fee",
        "price_book",
        False,
        _prices(plans=[_plan(kind="tiered", tiers=[{"up_to": None, "unit_price": "1", "flat_fee": "-1"}])]),
    ),
    Case(
        "an empty package",
        "price_book",
        False,
        _prices(plans=[_plan(kind="package", block_size="0", block_price="1")]),
    ),
    Case("a gpu_hours plan without a model", "price_book", False, _prices(plans=[_plan(gpu_model=None)])),
    Case("a GPU model on requests", "price_book", False, _prices(plans=[_plan(meter="requests")])),
    Case("a model priced twice", "price_book", False, _prices(plans=[_plan(), _plan(unit_price="3")])),
    Case("a spend commitment", "price_book", True, _prices(commitments=[_commitment()])),
    Case(
        "a quantity commitment",
        "price_book",
        True,
        _prices(
            commitments=[_commitment(kind="quantity", meter="gpu_hours", gpu_model="H100", unit_price="1.8")]
        ),
    ),
    Case(
        "a quantity commitment without a meter",
        "price_book",
        False,
        _prices(commitments=[_commitment(kind="quantity")]),
    ),
    Case("a discount above 1", "price_book", False, _prices(commitments=[_commitment(discount="1.5")])),
    Case("nothing committed", "price_book", False, _prices(commitments=[_commitment(committed="0")])),
    Case("a blank commitment id", "price_book", False, _prices(commitments=[_commitment(commitment_id=" ")])),
    Case(
        "overlapping commitments",
        "price_book",
        False,
        _prices(commitments=[_commitment(), _commitment(commitment_id="c2", meter="requests")]),
    ),
    Case(
        "a GPU model outside gpu_hours",
        "price_book",
        False,
        _prices(commitments=[_commitment(meter="requests", gpu_model="H100")]),
    ),
]

BUDGETS = [
    Case("a budget", "budget", True, {"amount": "100", "thresholds_percent": ["50", "80", "100"]}),
    Case("a JPY budget", "budget", True, {"amount": "10000", "currency": "JPY"}, tenant_currency="JPY"),
    Case("thresholds up to 1000 %", "budget", True, {"amount": "1", "thresholds_percent": ["1000"]}),
    Case("a zero amount", "budget", False, {"amount": "0"}),
    Case("a negative amount", "budget", False, {"amount": "-5"}),
    Case("thresholds repeat", "budget", False, {"amount": "100", "thresholds_percent": ["50", "50"]}),
    Case("a zero threshold", "budget", False, {"amount": "100", "thresholds_percent": ["0"]}),
    Case("a threshold above 1000 %", "budget", False, {"amount": "100", "thresholds_percent": ["1001"]}),
    Case(
        "eleven thresholds",
        "budget",
        False,
        {"amount": "100", "thresholds_percent": [str(t) for t in range(1, 12)]},
    ),
    Case("an XYZ budget", "budget", False, {"amount": "100", "currency": "XYZ"}),
    Case("a usd budget", "budget", False, {"amount": "100", "currency": "usd"}),
]

CREDITS = [
    Case("USD credit", "credit", True, {"amount": "10.00"}),
    Case("JPY credit in yen", "credit", True, {"amount": "1500"}, tenant_currency="JPY"),
    Case("BHD credit in fils", "credit", True, {"amount": "1.234"}, tenant_currency="BHD"),
    Case("no credit", "credit", False, {"amount": "0"}),
    Case("negative credit", "credit", False, {"amount": "-5"}),
    Case("a tenth of a cent", "credit", False, {"amount": "0.001"}),
    Case("JPY with decimals", "credit", False, {"amount": "1.5"}, tenant_currency="JPY"),
]

SECRET = "s" * 32


def _endpoint(**terms: Any) -> dict[str, Any]:
    return {"url": "https://billing.example/hooks", "secret": SECRET, "event_types": []} | terms


# Before shared/contracts/webhook_endpoints.py, metering took URLs over 2,000 characters and secrets over 200.
WEBHOOKS = [
    Case("an https endpoint for every event", "webhook", True, _endpoint()),
    Case(
        "an http endpoint for two events",
        "webhook",
        True,
        _endpoint(
            url="http://billing.example:8080/in",
            event_types=["metering.v1.invoice.finalized", "metering.v1.budget.exhausted"],
        ),
    ),
    Case("a secret of 16 characters", "webhook", True, _endpoint(secret="s" * 16)),
    Case("a secret of 200 characters", "webhook", True, _endpoint(secret="s" * 200)),
    Case("an ftp URL", "webhook", False, _endpoint(url="ftp://billing.example/hooks")),
    Case("a URL without a host", "webhook", False, _endpoint(url="https:///hooks")),
    # urlsplit raises on it: both used to crash (a 500 at the gateway, retries then a dead letter).
    Case("a URL with an unclosed IPv6 bracket", "webhook", False, _endpoint(url="http://[::1/hooks")),
    Case("a URL of 2,001 characters", "webhook", False, _endpoint(url="https://b.example/" + "x" * 1983)),
    Case("a secret of 15 characters", "webhook", False, _endpoint(secret="s" * 15)),
    Case("a secret of 201 characters", "webhook", False, _endpoint(secret="s" * 201)),
    Case("an unknown event type", "webhook", False, _endpoint(event_types=["metering.v1.nope"])),
    Case(
        "draft snapshots are no billing event",
        "webhook",
        False,
        _endpoint(event_types=["metering.v1.invoice.updated"]),
    ),
]

CASES = CURRENCIES + PRICE_BOOKS + BUDGETS + CREDITS + WEBHOOKS

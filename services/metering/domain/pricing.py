"""Price books: a tenant's prices, versioned by the time from which each version is in effect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from services.metering.domain.errors import InvalidPrice, NoPriceForModel, PriceBookNotYetKnown
from services.metering.domain.money import normalize_currency
from services.metering.domain.periods import as_utc


@dataclass(frozen=True)
class PriceBook:
    tenant_id: str
    currency: str
    effective_from: datetime
    gpu_hour: Mapping[str, Decimal] = field(default_factory=dict)  # GPU model -> price per GPU-hour
    per_1k_tokens: Decimal = Decimal(0)
    per_request: Decimal = Decimal(0)
    per_kwh: Decimal = Decimal(0)

    def validated(self) -> PriceBook:
        """This book with its currency normalized; InvalidPrice or UnknownCurrency when it is wrong."""
        prices = {f"gpu_hour[{model}]": price for model, price in self.gpu_hour.items()}
        prices |= {
            "per_1k_tokens": self.per_1k_tokens,
            "per_request": self.per_request,
            "per_kwh": self.per_kwh,
        }
        problems = [
            f"{name} is {price}" for name, price in prices.items() if not price.is_finite() or price < 0
        ]
        if problems:
            raise InvalidPrice(
                f"tenant {self.tenant_id}'s price book has negative or invalid prices: " + ", ".join(problems)
            )
        return PriceBook(
            tenant_id=self.tenant_id,
            currency=normalize_currency(self.currency),
            effective_from=self.effective_from,
            gpu_hour=dict(self.gpu_hour),
            per_1k_tokens=self.per_1k_tokens,
            per_request=self.per_request,
            per_kwh=self.per_kwh,
        )

    def gpu_hour_price(self, gpu_model: str) -> Decimal:
        price = self.gpu_hour.get(gpu_model)
        if price is None:
            raise NoPriceForModel(gpu_model, self.tenant_id)
        return price


def price_book_in_effect(tenant_id: str, versions: Sequence[PriceBook], at: datetime) -> PriceBook:
    """The version in effect at `at`: the latest one whose effective_from is not after it.

    Usage from before the first version is priced with the first version, so that a price book set a
    moment after work started (or a small clock skew between services) does not leave the work unbilled.
    Versions with the same effective_from: the one given last wins.
    """
    if not versions:
        raise PriceBookNotYetKnown(tenant_id)
    ordered = sorted(versions, key=lambda book: as_utc(book.effective_from))  # stable: ties keep their order
    moment = as_utc(at)
    in_effect = [book for book in ordered if as_utc(book.effective_from) <= moment]
    return in_effect[-1] if in_effect else ordered[0]

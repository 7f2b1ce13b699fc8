"""Prepaid credits: a tenant's balance, drawn down by its invoices.

Rules:
1. Credit is applied after the line amounts are summed: applied = min(balance, subtotal), and nothing
   when the subtotal is zero or negative (an invoice of credit notes does not consume credit). The
   total never goes below zero and the balance never goes below zero.
2. What is left carries to the next invoice: balance = grants - credit applied by finalized invoices.
   A draft shows what would be applied now; only finalization draws the balance down. A voided
   invoice gives its credit back (its replacement draft starts from the same opening balance).
3. Balances are whole minor units of the tenant's currency (USD cents, JPY yen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from services.metering.domain.errors import InvalidCredit
from services.metering.domain.money import exact_sum, minor_units

ZERO = Decimal(0)


@dataclass(frozen=True)
class CreditApplication:
    opening: Decimal
    applied: Decimal
    remaining: Decimal


def validate_credit(amount: Decimal, currency: str, what: str = "credit balance") -> Decimal:
    if not amount.is_finite() or amount < 0:
        raise InvalidCredit(f"{what} must be a non-negative amount, got {amount}")
    if amount.as_tuple().exponent < -minor_units(currency):  # type: ignore[operator]
        raise InvalidCredit(f"{what} {amount} has more decimals than {currency}'s {minor_units(currency)}")
    return amount


def apply_prepaid_credit(subtotal: Decimal, balance: Decimal, currency: str) -> CreditApplication:
    validate_credit(balance, currency)
    applied = min(balance, subtotal) if subtotal > 0 else ZERO
    return CreditApplication(opening=balance, applied=applied, remaining=balance - applied)


def carried_balance(
    grants: Iterable[Decimal], applied_by_finalized: Iterable[Decimal], currency: str
) -> Decimal:
    """The balance the next invoice starts from."""
    granted = exact_sum(validate_credit(g, currency, "credit grant") for g in grants)
    used = exact_sum(applied_by_finalized)
    if used > granted:
        raise InvalidCredit(f"finalized invoices applied {used} of credit but only {granted} was granted")
    return granted - used

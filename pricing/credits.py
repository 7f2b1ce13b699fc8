"""Prepaid credits: a tenant's balance, drawn down by its invoices.

Rules:
1. Credit is applied after the line amounts are summed: applied = min(balance, subtotal), and nothing
   when the subtotal is zero or negative (an invoice of credit notes does not consume credit). The
   total never goes below zero and the balance never goes below zero.
2. What is left carries to the next invoice: balance = grants - credit applied by finalized invoices.
   A draft shows what would be applied now; only finalization draws the balance down. A voided
   invoice gives its credit back (its replacement draft starts from the same opening balance).
3. A grant is a positive amount; grants and balances are whole minor units of the tenant's currency
   (USD cents, JPY yen).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from pricing.errors import InvalidCredit, Problem, raise_problems
from pricing.money import exact_sum, minor_unit_problems

ZERO = Decimal(0)


@dataclass(frozen=True)
class CreditApplication:
    opening: Decimal
    applied: Decimal
    remaining: Decimal


def credit_grant_problems(amount: Decimal, currency: str, field: str = "amount") -> list[Problem]:
    """A grant of prepaid credit (rule 3)."""
    if not amount.is_finite() or amount <= 0:
        return [Problem(field, f"must be an amount above 0, not {amount}")]
    return minor_unit_problems(amount, currency, field)


def credit_balance_problems(amount: Decimal, currency: str, field: str = "credit balance") -> list[Problem]:
    """A balance (rule 1: never below zero; rule 3)."""
    if not amount.is_finite() or amount < 0:
        return [Problem(field, f"must be a non-negative amount, not {amount}")]
    return minor_unit_problems(amount, currency, field)


def validate_credit_grant(amount: Decimal, currency: str, field: str = "credit grant") -> Decimal:
    raise_problems(credit_grant_problems(amount, currency, field), InvalidCredit)
    return amount


def validate_credit(amount: Decimal, currency: str, what: str = "credit balance") -> Decimal:
    raise_problems(credit_balance_problems(amount, currency, what), InvalidCredit)
    return amount


def apply_prepaid_credit(subtotal: Decimal, balance: Decimal, currency: str) -> CreditApplication:
    validate_credit(balance, currency)
    applied = min(balance, subtotal) if subtotal > 0 else ZERO
    return CreditApplication(opening=balance, applied=applied, remaining=balance - applied)


def carried_balance(
    grants: Iterable[Decimal], applied_by_finalized: Iterable[Decimal], currency: str
) -> Decimal:
    """The balance the next invoice starts from."""
    granted = exact_sum(validate_credit_grant(g, currency) for g in grants)
    used = exact_sum(applied_by_finalized)
    if used > granted:
        raise InvalidCredit(f"finalized invoices applied {used} of credit but only {granted} was granted")
    return granted - used

"""What is wrong with pricing input: each problem names its field; each error has a stable code.

A validator returns every Problem it finds (an HTTP edge lists them all); a PricingError carries them
when a rule is applied to input that breaks it. Every PricingError is input that can never succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one field; `field` is a path such as `plans[0].tiers[1].up_to`."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class PricingError(ValueError):
    code = "pricing_error"

    def __init__(self, detail: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(detail)
        self.problems = tuple(problems)

    @classmethod
    def of(cls, problems: Sequence[Problem], subject: str = "") -> Self:
        """The error listing every problem, after `subject` (say "budget b1: ")."""
        return cls(subject + "; ".join(map(str, problems)), problems)


def raise_problems(problems: Sequence[Problem], error: type[PricingError], subject: str = "") -> None:
    if problems:
        raise error.of(problems, subject)


class UnknownCurrency(PricingError):
    code = "unknown_currency"


class InvalidPeriod(PricingError):
    code = "invalid_period"


class InvalidPrice(PricingError):
    code = "invalid_price"


class InvalidCredit(PricingError):
    code = "invalid_credit"


class InvalidBudget(PricingError):
    code = "invalid_budget"

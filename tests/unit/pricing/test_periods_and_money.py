"""Billing periods and currencies: their rules, and the checks of them, each naming its field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from pricing.errors import InvalidPeriod, UnknownCurrency
from pricing.money import currency_problems, minor_units, normalize_currency, round_money, validate_currency
from pricing.periods import next_period, open_period, period_of, period_problems, validate_period


def test_the_period_is_the_month_in_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert period_of(datetime(2026, 3, 1, 8, 0, tzinfo=tokyo)) == "2026-02"
    assert period_of(datetime(2026, 3, 1, 0, 0, tzinfo=UTC)) == "2026-03"


def test_next_period_rolls_over_the_year() -> None:
    assert next_period("2025-12") == "2026-01"
    assert next_period("2026-09") == "2026-10"


def test_open_period_skips_every_finalized_month() -> None:
    assert open_period("2026-01", set()) == "2026-01"
    assert open_period("2026-01", {"2026-01", "2026-02", "2026-04"}) == "2026-03"


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "2026/01", ""])
def test_a_malformed_period_is_rejected_by_name(bad: str) -> None:
    with pytest.raises(InvalidPeriod, match="YYYY-MM"):
        validate_period(bad)


def test_currencies_have_their_iso_minor_units() -> None:
    assert [minor_units(code) for code in ("USD", "EUR", "JPY", "KRW", "BHD", "CLF")] == [2, 2, 0, 0, 3, 4]
    assert normalize_currency("eur") == "EUR"


def test_an_unknown_currency_is_rejected() -> None:
    with pytest.raises(UnknownCurrency, match="ISO 4217"):
        normalize_currency("BTC")


def test_rounding_is_half_up_to_the_currency_minor_units() -> None:
    assert round_money(Decimal("0.125"), "USD") == Decimal("0.13")
    assert round_money(Decimal("0.125"), "EUR") == Decimal("0.13")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.0005"), "KWD") == Decimal("1.001")


def test_the_billing_period_is_the_utc_month() -> None:
    assert period_of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == "2026-01"
    # 2026-02-01 01:00 in UTC+2 is still January in UTC.
    assert period_of(datetime(2026, 2, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))) == "2026-01"


@pytest.mark.parametrize(
    ("currency", "valid"),
    [
        ("USD", True),
        ("EUR", True),
        ("JPY", True),
        ("usd", False),
        ("US", False),
        ("USDT", False),
        ("XYZ", False),
    ],
)
def test_a_tenants_currency_is_an_iso_4217_code_in_upper_case(currency: str, valid: bool) -> None:
    problems = currency_problems(currency)
    assert (not problems) == valid
    if problems:
        assert problems[0].field == "currency" and "ISO 4217" in problems[0].message
        with pytest.raises(UnknownCurrency, match="currency: "):
            validate_currency(currency)


@pytest.mark.parametrize(
    ("period", "valid"),
    [
        ("2026-01", True),
        ("2026-12", True),
        ("2026-13", False),
        ("2026-00", False),
        ("2026-1", False),
        ("26-01", False),
    ],
)
def test_periods_are_year_and_month(period: str, valid: bool) -> None:
    assert (not period_problems(period)) == valid

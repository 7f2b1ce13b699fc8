"""Billing periods and currencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.metering.domain.errors import InvalidPeriod, UnknownCurrency
from services.metering.domain.money import minor_units, normalize_currency
from services.metering.domain.periods import next_period, open_period, period_of, validate_period


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

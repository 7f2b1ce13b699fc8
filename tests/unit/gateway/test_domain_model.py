"""Identifiers and the format checks of currencies, billing periods and GPU model names."""

from __future__ import annotations

import re

import pytest

from services.gateway.domain.model import (
    currency_error,
    gpu_model_errors,
    new_job_id,
    new_key_id,
    new_project_id,
    new_tenant_id,
    period_error,
)


def test_identifiers_have_their_prefix_and_length() -> None:
    assert re.fullmatch(r"tnt_[0-9a-f]{12}", new_tenant_id())
    assert re.fullmatch(r"prj_[0-9a-f]{12}", new_project_id())
    assert re.fullmatch(r"job_[0-9a-f]{16}", new_job_id())
    assert re.fullmatch(r"key_[0-9a-f]{12}", new_key_id())
    assert new_job_id() != new_job_id()


@pytest.mark.parametrize(
    ("currency", "valid"), [("USD", True), ("EUR", True), ("usd", False), ("US", False), ("USDT", False)]
)
def test_currencies_are_three_upper_case_letters(currency: str, valid: bool) -> None:
    error = currency_error("currency", currency)
    assert (error is None) == valid
    if error:
        assert error.field == "currency" and "ISO 4217" in error.message


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
    assert (period_error("period", period) is None) == valid


def test_gpu_model_names_must_be_short_and_not_blank() -> None:
    errors = gpu_model_errors("gpu_hour", ["A100", " ", "x" * 65])
    assert [e.field for e in errors] == ["gpu_hour. ", f"gpu_hour.{'x' * 65}"]

"""Metering's use cases on the in-memory store (the same suite runs on PostgreSQL in integration)."""

from __future__ import annotations

import pytest

from tests.unit.metering.invoicing.billing_contract import BillingContract
from tests.unit.metering.invoicing.fake_store import FakeMeteringStore


class TestBillingOnFakeStore(BillingContract):
    @pytest.fixture
    def store(self) -> FakeMeteringStore:
        return FakeMeteringStore()

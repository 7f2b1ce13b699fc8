"""The usage pipeline's use cases on the in-memory ledger (the same suite runs on PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.unit.metering.usage.fake_ledger import FakeLedgerHarness
from tests.unit.metering.usage.ledger_contract import UsageLedgerContract


class TestUsageOnFakeLedger(UsageLedgerContract):
    @pytest.fixture
    def harness(self) -> FakeLedgerHarness:
        return FakeLedgerHarness()

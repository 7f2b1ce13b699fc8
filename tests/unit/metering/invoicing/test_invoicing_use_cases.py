"""The invoicing suite on the in-memory store (tests/integration/metering runs it on PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.unit.metering.invoicing.fake_store import FakeMeteringStore
from tests.unit.metering.invoicing.invoicing_contract import InvoicingContract


class TestInvoicingOnFakeStore(InvoicingContract):
    @pytest.fixture
    def store(self) -> FakeMeteringStore:
        return FakeMeteringStore()

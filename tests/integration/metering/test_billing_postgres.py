"""Metering's use-case suite on the real PostgreSQL store (the unit suite runs it on the fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from services.metering.invoicing.adapters.store import PostgresMeteringStore
from services.metering.invoicing.domain.invoice import InvoiceStatus
from services.metering.main import MIGRATIONS, SCHEMA
from shared.db.migrations import migrate
from shared.db.pool import create_pool
from tests.unit.metering.invoicing.billing_contract import BillingContract
from tests.unit.metering.invoicing.builders import empty_invoice


@pytest.fixture
async def connection(fresh_database: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(fresh_database, SCHEMA, MIGRATIONS)
    pool = await create_pool(fresh_database, SCHEMA, max_size=2)
    async with pool.acquire() as conn:
        yield conn
    await pool.close()


class TestBillingOnPostgres(BillingContract):
    @pytest.fixture
    def store(self, connection: asyncpg.Connection) -> PostgresMeteringStore:
        return PostgresMeteringStore(connection)


async def test_a_finalized_invoice_cannot_be_changed_even_by_sql(connection: asyncpg.Connection) -> None:
    store = PostgresMeteringStore(connection)
    now = datetime(2026, 2, 1, tzinfo=UTC)
    await store.save_invoice(empty_invoice("acme", "2026-01", "USD", InvoiceStatus.FINALIZED), now)

    await store.save_invoice(empty_invoice("acme", "2026-01", "USD"), now)  # a draft never replaces it
    assert await store.invoice_status("acme", "2026-01") is InvoiceStatus.FINALIZED
    with pytest.raises(asyncpg.RaiseError, match="inv_acme_2026-01 is finalized"):
        await connection.execute("UPDATE invoices SET total = $1", Decimal(1))

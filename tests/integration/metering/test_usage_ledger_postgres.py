"""The usage pipeline's use-case suite on PostgreSQL (the unit suite runs it on the fake ledger): the
rollups SQL derives hours and days exactly as the domain does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from pricing.meters import MeterName
from services.metering.invoicing.adapters.rebuild_source import PostgresRawBilling
from services.metering.invoicing.adapters.store import PostgresMeteringStore
from services.metering.invoicing.domain.invoice import InvoiceStatus
from services.metering.invoicing.domain.rating import Charge
from services.metering.main import MIGRATIONS, SCHEMA
from services.metering.usage.adapters.ledger_store import PostgresUsageLedger
from services.metering.usage.domain.batch_rating import TenantBilling
from services.metering.usage.domain.readings import UsageMeter
from services.metering.usage.domain.rollups import Grain
from shared.db.migrations import migrate
from shared.db.pool import Database, Tx, create_pool
from shared.events.metering import UsageRated
from tests.unit.metering.invoicing.builders import empty_invoice
from tests.unit.metering.usage.ledger_contract import UsageLedgerContract

RATED_CHARGES_SQL = """
SELECT r.project_id, c.meter, c.base_quantity, c.unit_price, c.priced_at, c.gpu_model
FROM rated_items r JOIN rated_charges c ON c.rated_item_id = r.id
WHERE r.tenant_id = $1 AND r.period = $2
ORDER BY c.meter
"""


class PostgresLedgerHarness:
    """The ledger and the billing store on one open transaction; reads see its writes."""

    def __init__(self, tx: Tx) -> None:
        self._conn = tx.conn
        self.ledger = PostgresUsageLedger(tx, "metering-usage")
        self.store = PostgresMeteringStore(tx.conn)

    async def add_tenant(self, tenant: TenantBilling) -> None:
        await self.store.add_tenant(tenant.tenant_id, tenant.tenant_id, tenant.currency)
        for index, book in enumerate(tenant.books):
            await self.store.add_price_book(_uuid(tenant.tenant_id, index), book)
        for period in tenant.finalized:
            invoice = empty_invoice(tenant.tenant_id, period, tenant.currency, InvoiceStatus.FINALIZED)
            await self.store.save_invoice(invoice, datetime(2026, 1, 1, tzinfo=UTC))

    async def cells(self, grain: Grain) -> dict[Any, Any]:
        rows = await self._conn.fetch(f"SELECT * FROM usage_rollup_{grain.value}")
        return {
            (r["tenant_id"], r["window_start"], r["project_id"], UsageMeter(r["meter"]), r["gpu_model"]): (
                r["sum"], r["count"], r["max"], r["latest"], r["latest_at"]
            )
            for r in rows
        }  # fmt: skip

    async def usage_charges(self) -> dict[Any, Any]:
        rows = await self._conn.fetch("SELECT * FROM rated_usage")
        return {
            (r["tenant_id"], r["period"], r["usage_period"], r["version"], r["project_id"], r["meter"]):
                (r["base_quantity"], r["priced_at"], r["unit_price"])
            for r in rows
        }  # fmt: skip

    async def usage_rated(self) -> list[UsageRated]:
        rows = await self._conn.fetch(
            "SELECT payload FROM outbox WHERE subject = $1 ORDER BY id", UsageRated.SUBJECT
        )
        return [UsageRated.model_validate_json(row["payload"]) for row in rows]

    async def dirty(self) -> set[tuple[str, str]]:
        return {(r["tenant_id"], r["period"]) for r in await self._conn.fetch("SELECT * FROM dirty_invoices")}

    async def dead_letters(self) -> list[str]:
        return [r["reason"] for r in await self._conn.fetch("SELECT reason FROM dead_letters ORDER BY id")]

    async def raw_usage(self) -> list[tuple[str, str]]:
        rows = await self._conn.fetch("SELECT source_event_id, period FROM usage_events ORDER BY 1")
        return [(r["source_event_id"], r["period"]) for r in rows]

    def raw_billing(self) -> PostgresRawBilling:
        return PostgresRawBilling(self._conn)

    async def rated_charges(self, tenant_id: str, period: str) -> list[Charge]:
        """The charges of the rated allocations billed in the period."""
        rows = await self._conn.fetch(RATED_CHARGES_SQL, tenant_id, period)
        return [
            Charge(
                r["project_id"],
                MeterName(r["meter"]),
                r["base_quantity"],
                r["unit_price"],
                r["priced_at"],
                r["gpu_model"],
            )
            for r in rows
        ]

    async def raw_allocations(self) -> list[tuple[str, str]]:
        rows = await self._conn.fetch("SELECT allocation_id, period FROM allocation_events ORDER BY 1")
        return [(r["allocation_id"], r["period"]) for r in rows]


def _uuid(tenant_id: str, index: int) -> Any:
    """The same id for the same tenant's same book (adding it again is a no-op), another for others."""
    from uuid import NAMESPACE_URL, uuid5

    return uuid5(NAMESPACE_URL, f"{tenant_id}/{index}")


@pytest.fixture
async def database(fresh_database: str) -> AsyncIterator[Database]:
    await migrate(fresh_database, SCHEMA, MIGRATIONS)
    db = Database(await create_pool(fresh_database, SCHEMA, max_size=2))
    yield db
    await db.close()


class TestUsageOnPostgres(UsageLedgerContract):
    @pytest.fixture
    async def harness(self, database: Database) -> AsyncIterator[PostgresLedgerHarness]:
        async with database.transaction() as tx:
            yield PostgresLedgerHarness(tx)


async def test_rollups_keep_quantities_exact_to_the_last_digit(database: Database) -> None:
    from datetime import timedelta

    from services.metering.usage.app.use_cases import record_usage
    from tests.unit.metering.usage.builders import T0, billing, sample
    from tests.unit.metering.usage.ledger_contract import LIMITS, NOW

    async with database.transaction() as tx:
        harness = PostgresLedgerHarness(tx)
        await harness.add_tenant(billing())
        tiny = [
            sample(T0 + timedelta(microseconds=i), energy_j="0.000000000001", utilization=0.1)
            for i in range(3)
        ]
        await record_usage(harness.ledger, tiny, NOW, LIMITS)
        day = await harness.cells(Grain.DAY)
    energy = day[("acme", T0.replace(hour=0), "p1", UsageMeter.ENERGY_J, "H100")]
    assert energy[0] == Decimal("3E-12")
    assert energy[4] == T0 + timedelta(microseconds=2)  # the latest instant, to the microsecond

"""The invoicing suite (prepaid credit, void, plans and commitments) on the real PostgreSQL store, and
what the schema itself guards: a void invoice never changes, a finalized one only becomes void."""

from __future__ import annotations

import asyncpg
import pytest

from services.metering.invoicing.adapters.store import PostgresMeteringStore
from services.metering.invoicing.app import invoices, rating
from tests.integration.metering.test_billing_postgres import connection
from tests.unit.metering.builders import allocation_released, finalize_requested
from tests.unit.metering.invoicing.billing_contract import NOW, set_up_tenant
from tests.unit.metering.invoicing.fake_store import RecordingOutbox
from tests.unit.metering.invoicing.invoicing_contract import InvoicingContract, void_request

__all__ = ["connection"]  # the fixture, shared with the billing suite


class TestInvoicingOnPostgres(InvoicingContract):
    @pytest.fixture
    def store(self, connection: asyncpg.Connection) -> PostgresMeteringStore:
        return PostgresMeteringStore(connection)


async def test_a_finalized_invoice_changes_only_to_void_and_a_void_one_never(
    connection: asyncpg.Connection,
) -> None:
    store = PostgresMeteringStore(connection)
    await set_up_tenant(store)
    await rating.rate_released_allocation(store, allocation_released(3600))
    await invoices.finalize_invoice(store, RecordingOutbox(), finalize_requested("2026-01"), NOW)
    with pytest.raises(asyncpg.RaiseError, match="is finalized and cannot change"):
        await connection.execute(
            "UPDATE invoices SET status = 'void', total = 0 WHERE invoice_id = 'inv_acme_2026-01'"
        )

    await invoices.void_invoice(store, RecordingOutbox(), void_request("inv_acme_2026-01"), NOW)

    with pytest.raises(asyncpg.RaiseError, match="is void and cannot change"):
        await connection.execute(
            "UPDATE invoices SET void_reason = 'other' WHERE invoice_id = 'inv_acme_2026-01'"
        )
    rows = await connection.fetch("SELECT invoice_id, status, revision FROM invoices ORDER BY revision")
    assert [tuple(row) for row in rows] == [
        ("inv_acme_2026-01", "void", 1),
        ("inv_acme_2026-01_r2", "draft", 2),
    ]

"""Usage queries and downloads through the gateway's use cases: whose tenant metering is asked about,
and what is refused before metering is asked at all."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.app.usage_and_exports import ExportFormat, UsageAndExports, UsageQuery
from services.gateway.domain.errors import InvalidInput, NotFound
from tests.unit.gateway.test_use_cases import OPERATOR, World

JANUARY = UsageQuery(date(2026, 1, 1), date(2026, 2, 1))


class RecordingMetering:
    """Metering's API as the gateway sees it, answering every call and recording whose tenant it asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def usage(self, tenant_id: str, query: UsageQuery) -> dict[str, Any]:
        self.asked.append(("usage", tenant_id))
        return {"tenant_id": tenant_id, "rows": []}

    async def invoice_export(self, tenant_id: str, invoice_id: str, export_format: ExportFormat) -> bytes:
        self.asked.append(("invoice", tenant_id))
        return b"{}"

    async def focus(self, tenant_id: str, period: str) -> bytes:
        self.asked.append(("focus", tenant_id))
        return b"BilledCost\n"


@pytest.fixture
def world() -> World:
    return World()


async def test_a_tenant_key_reads_its_own_tenant_and_the_operator_names_one(world: World) -> None:
    acme, _ = await world.tenant_with_project("acme")
    metering = RecordingMetering()
    exports = UsageAndExports(world.cases.billing, metering)
    assert acme.tenant_id is not None

    await exports.usage(acme, None, JANUARY)
    download = await exports.focus(acme, acme.tenant_id, "2026-01")
    await exports.usage(OPERATOR, "tnt_other", JANUARY)

    assert metering.asked == [("usage", acme.tenant_id), ("focus", acme.tenant_id), ("usage", "tnt_other")]
    assert (download.media_type, download.filename) == ("text/csv", f"focus_{acme.tenant_id}_2026-01.csv")


async def test_refusals_never_reach_metering(world: World) -> None:
    acme, _ = await world.tenant_with_project("acme")
    globex, _ = await world.tenant_with_project("globex")
    assert globex.tenant_id is not None
    metering = RecordingMetering()
    exports = UsageAndExports(world.cases.billing, metering)

    with pytest.raises(NotFound):
        await exports.usage(acme, globex.tenant_id, JANUARY)
    with pytest.raises(NotFound):
        await exports.focus(acme, globex.tenant_id, "2026-01")
    with pytest.raises(NotFound):
        await exports.invoice_export(acme, f"inv_{globex.tenant_id}_2026-01", "csv")
    with pytest.raises(InvalidInput) as no_tenant:
        await exports.usage(OPERATOR, None, JANUARY)
    with pytest.raises(InvalidInput) as backwards:
        await exports.usage(acme, None, UsageQuery(date(2026, 2, 1), date(2026, 2, 1)))
    with pytest.raises(InvalidInput) as bad_period:
        await exports.focus(acme, None, "2026-13")

    assert [e.field for e in no_tenant.value.errors + backwards.value.errors + bad_period.value.errors] == [
        "tenant_id",
        "to",
        "period",
    ]
    assert metering.asked == []


async def test_without_a_metering_api_the_reads_are_unavailable(world: World) -> None:
    acme, _ = await world.tenant_with_project("acme")
    with pytest.raises(MeteringUnavailable):
        await world.cases.usage_and_exports.usage(acme, None, JANUARY)

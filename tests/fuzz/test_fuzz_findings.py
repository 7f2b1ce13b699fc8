"""Defects the gateway fuzzing found, each pinned: the fix is checked without starting the factory."""

from __future__ import annotations

import pytest

from services.gateway.app.chargeback import Chargeback
from services.gateway.app.usage_and_exports import UsageAndExports
from services.gateway.domain.errors import InvalidInput
from tests.unit.gateway.test_usage_and_exports import JANUARY, RecordingMetering
from tests.unit.gateway.test_use_cases import OPERATOR, World


class NoChargeback:
    async def chargeback(self, tenant_id: str | None, period: str, idle: str | None) -> None:
        raise AssertionError("an empty tenant id must be refused before metering is asked")


async def test_an_operators_empty_tenant_id_is_a_422_not_metering_unavailable() -> None:
    # `?tenant_id=` reached metering, which refused it (422), and the gateway answered 503.
    exports = UsageAndExports(World().cases.billing, RecordingMetering())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as usage:
        await exports.usage(OPERATOR, "", JANUARY)
    with pytest.raises(InvalidInput) as focus:
        await exports.focus(OPERATOR, "", "2026-01")
    with pytest.raises(InvalidInput) as chargeback:
        await Chargeback(NoChargeback()).read(OPERATOR, "", "2026-01", None)  # type: ignore[arg-type]
    for refused in (usage, focus, chargeback):
        assert [(e.field, e.location) for e in refused.value.errors] == [("tenant_id", "query")]

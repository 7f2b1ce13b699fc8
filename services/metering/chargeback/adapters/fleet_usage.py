"""The fleet's GPU-seconds of one period on PostgreSQL, for chargeback: both from the day rollups'
gpu_seconds meter (readings.py rule 1), one month of it.

Used: the allocations' GPU-seconds per tenant, project and GPU model, the figures the invoices bill,
placed at each allocation's release. Idle: the tenant "_fleet"'s, the windows of the agents' samples of
GPUs no allocation held, per GPU model, placed at each window's end.
"""

from __future__ import annotations

from decimal import Decimal

from pricing.periods import period_bounds
from services.metering.chargeback.domain.report import UsedGpuSeconds
from services.metering.invoicing.domain.rating import FLEET_TENANT
from services.metering.usage.domain.readings import UsageMeter
from shared.db.pool import Database

GPU_SECONDS_SQL = """
SELECT tenant_id, project_id, gpu_model, sum(sum) AS gpu_seconds
FROM usage_rollup_day
WHERE window_start >= $1 AND window_start < $2 AND meter = $3
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


class PostgresFleetUsage:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def gpu_seconds(self, period: str) -> tuple[list[UsedGpuSeconds], dict[str, Decimal]]:
        """The period's used GPU-seconds (per tenant, project and model) and idle ones (per model)."""
        start, end = period_bounds(period)
        used: list[UsedGpuSeconds] = []
        idle: dict[str, Decimal] = {}
        for row in await self._db.fetch(GPU_SECONDS_SQL, start, end, UsageMeter.GPU_SECONDS.value):
            seconds = _trimmed(row["gpu_seconds"])
            if row["tenant_id"] == FLEET_TENANT:
                idle[row["gpu_model"]] = idle.get(row["gpu_model"], Decimal(0)) + seconds
            else:
                used.append(UsedGpuSeconds(row["tenant_id"], row["project_id"], row["gpu_model"], seconds))
        return used, idle


def _trimmed(seconds: Decimal) -> Decimal:
    """Seconds without trailing zeros (7200.000000 -> 7200), in plain notation."""
    trimmed = seconds.normalize()
    exponent = trimmed.as_tuple().exponent
    return trimmed.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else trimmed

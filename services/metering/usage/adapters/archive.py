"""The UsageArchive on PostgreSQL: raw usage and allocation events read back as events, and stored cells."""

from __future__ import annotations

from collections.abc import Sequence

from services.metering.usage.app.rebuild import RebuildRange
from services.metering.usage.domain.readings import UsageMeter
from services.metering.usage.domain.rollups import Aggregate, Cells, Grain
from shared.db.pool import Database
from shared.events.ingest import UsageRecorded
from shared.events.scheduler import AllocationReleased

USAGE_SQL = """
SELECT event_id, occurred_at, tenant_id, project_id, source, source_event_id, window_start, window_end,
    job_id, node_id, gpu_uuid, gpu_model, gpu_utilization_pct, memory_used_mib, energy_j, requests,
    input_tokens, output_tokens, model_name, gpu_share
FROM usage_events WHERE tenant_id = $1 AND window_end >= $2 AND window_end < $3
"""
ALLOCATIONS_SQL = """
SELECT event_id, occurred_at, tenant_id, project_id, job_id, allocation_id, node_id, gpu_model, gpu_count,
    gpu_share, bound_at, released_at, reason, epoch
FROM allocation_events WHERE tenant_id = $1 AND released_at >= $2 AND released_at < $3
"""
CELLS_SQL = """
SELECT * FROM usage_rollup_{grain} WHERE tenant_id = $1 AND window_start >= $2 AND window_start < $3
"""


class PostgresUsageArchive:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def usage_records(self, within: RebuildRange) -> Sequence[UsageRecorded]:
        rows = await self._db.fetch(USAGE_SQL, within.tenant_id, within.start, within.end)
        return [UsageRecorded(**dict(row)) for row in rows]

    async def allocations(self, within: RebuildRange) -> Sequence[AllocationReleased]:
        rows = await self._db.fetch(ALLOCATIONS_SQL, within.tenant_id, within.start, within.end)
        return [AllocationReleased(**dict(row)) for row in rows]

    async def stored_cells(self, grain: Grain, within: RebuildRange) -> Cells:
        rows = await self._db.fetch(
            CELLS_SQL.format(grain=grain.value), within.tenant_id, within.start, within.end
        )
        return {
            (
                r["tenant_id"],
                r["window_start"],
                r["project_id"],
                UsageMeter(r["meter"]),
                r["gpu_model"],
            ): Aggregate(r["sum"], r["count"], r["max"], r["latest"], r["latest_at"])
            for r in rows
        }

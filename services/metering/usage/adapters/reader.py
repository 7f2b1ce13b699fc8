"""The UsageReader on PostgreSQL: one tenant's rollups, grouped in SQL.

Every query is bounded by its tenant and its date range, the leading columns of the rollups' primary
key, so it reads one contiguous index range however many tenants and days the tables hold.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from services.metering.usage.domain.queries import Dimension, UsageQuery, UsageRow
from services.metering.usage.domain.readings import UsageMeter
from shared.db.pool import Database

_COLUMN = {Dimension.PROJECT: "project_id", Dimension.GPU_MODEL: "gpu_model"}

USAGE_SQL = """
SELECT window_start, {project} AS project_id, {gpu_model} AS gpu_model, meter,
       sum(sum) AS sum, sum(count)::bigint AS count, max(max) AS max,
       (array_agg(latest ORDER BY latest_at DESC, latest DESC))[1] AS latest, max(latest_at) AS latest_at
FROM usage_rollup_{grain}
WHERE tenant_id = $1 AND window_start >= $2 AND window_start < $3
  AND (cardinality($4::text[]) = 0 OR meter = ANY($4::text[]))
  AND ($5::text IS NULL OR project_id = $5)
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
"""


class PostgresUsageReader:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def usage(self, query: UsageQuery) -> list[UsageRow]:
        columns = {
            name: _COLUMN[dimension] if dimension in query.group_by else "NULL::text"
            for dimension, name in ((Dimension.PROJECT, "project"), (Dimension.GPU_MODEL, "gpu_model"))
        }
        sql = USAGE_SQL.format(grain=query.grain.value, **columns)
        rows = await self._db.fetch(
            sql,
            query.tenant_id,
            _midnight(query.start),
            _midnight(query.end),
            [meter.value for meter in query.meters],
            query.project_id,
        )
        return [
            UsageRow(
                window_start=row["window_start"],
                project_id=row["project_id"],
                gpu_model=row["gpu_model"],
                meter=UsageMeter(row["meter"]),
                sum=row["sum"],
                count=row["count"],
                max=row["max"],
                latest=row["latest"],
                latest_at=row["latest_at"],
            )
            for row in rows
        ]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)

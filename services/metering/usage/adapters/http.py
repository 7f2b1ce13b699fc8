"""The internal usage API (platform/http.py serves it): GET /v1/usage, answering with the shared model
shared/contracts/metering_api.py UsageReport (the gateway's client reads the same model).

The gateway calls it on behalf of a tenant it has authenticated, and asserts that tenant in its signed
call (platform/http.py TenantId); every query reads that tenant's rollups and no one else's.
A bad query is a 400 invalid_usage_query (or 422 invalid_request) problem naming each bad parameter.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from services.metering.platform.http import TenantId
from services.metering.usage.app.ports import UsageReader
from services.metering.usage.domain.queries import InvalidUsageQuery, UsageRow, usage_query
from services.metering.usage.domain.readings import METER_UNITS
from shared.contracts import metering_api as api
from shared.http.problems import ProblemError


def usage_row(row: UsageRow) -> api.UsageRow:
    return api.UsageRow(
        window_start=row.window_start,
        project_id=row.project_id,
        gpu_model=row.gpu_model,
        meter=row.meter.value,
        unit=METER_UNITS[row.meter],
        sum=row.sum,
        count=row.count,
        max=row.max,
        latest=row.latest,
        latest_at=row.latest_at,
    )


def usage_router(reader: UsageReader) -> APIRouter:
    router = APIRouter()

    @router.get(api.USAGE_PATH)
    async def usage(
        tenant_id: TenantId,
        start: Annotated[date, Query(description="first day (UTC)")],
        end: Annotated[date, Query(description="the day after the last (UTC)")],
        grain: str = "day",
        group_by: Annotated[
            str, Query(description="comma-separated: project, gpu_model")
        ] = "project,gpu_model",
        meter: Annotated[list[str] | None, Query(description="repeat for several; none: all")] = None,
        project_id: str | None = None,
    ) -> api.UsageReport:
        try:
            query = usage_query(
                tenant_id,
                start,
                end,
                grain=grain,
                group_by=group_by,
                meters=meter or (),
                project_id=project_id,
            )
        except InvalidUsageQuery as error:
            raise ProblemError(
                400,
                error.code,
                str(error),
                errors=[
                    {"field": name, "in": "query", "message": message} for name, message in error.problems
                ],
            ) from error
        rows = await reader.usage(query)
        return api.UsageReport(
            tenant_id=query.tenant_id,
            grain=query.grain.value,
            start=query.start,
            end=query.end,
            group_by=[dimension.value for dimension in query.group_by],
            rows=[usage_row(row) for row in rows],
        )

    return router

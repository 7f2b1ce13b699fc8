"""The internal usage API: GET /v1/usage, GET /healthz.

Internal: the gateway calls it on behalf of a tenant it has authenticated, and passes that tenant's id
as the required `tenant_id` query parameter; every query reads that tenant's rollups and no one else's.
Keep it on a private address (http_host, default 127.0.0.1).

GET /v1/usage?tenant_id=T&start=2026-11-01&end=2026-12-01[&grain=day|hour|minute]
              [&group_by=project,gpu_model][&meter=gpu_seconds&meter=energy_j...][&project_id=P]
  200: {tenant_id, grain, start, end, group_by, rows: [{window_start, project_id, gpu_model, meter, unit,
        sum, count, max, latest, latest_at}]}; quantities are decimal strings, exact.
  400 invalid_usage_query / 422 invalid_request: problem+json naming each bad parameter.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel

from services.metering.app.usage_ports import UsageReader
from services.metering.domain.errors import InvalidPeriod
from services.metering.domain.periods import validate_period
from services.metering.domain.usage_meters import METER_UNITS
from services.metering.domain.usage_queries import InvalidUsageQuery, UsageRow, usage_query
from shared.http.problems import ProblemCodes, ProblemError, install_problem_handlers
from shared.http.tracing import FASTAPI_NATIVE_TELEMETRY_OFF, TracingMiddleware

# snake_case, like metering's domain error codes.
METERING_CODES = ProblemCodes(separator="_", invalid_input="invalid request")


def checked_period(period: str, field: str = "period") -> str:
    """The YYYY-MM period of a query parameter; a 400 problem naming the parameter when it is not one."""
    try:
        return validate_period(period)
    except InvalidPeriod as error:
        raise ProblemError(
            400, error.code, str(error), errors=[{"field": field, "in": "query", "message": str(error)}]
        ) from error


class UsageRowOut(BaseModel):
    window_start: datetime
    project_id: str | None
    gpu_model: str | None
    meter: str
    unit: str
    sum: Decimal
    count: int
    max: Decimal
    latest: Decimal
    latest_at: datetime

    @classmethod
    def of(cls, row: UsageRow) -> UsageRowOut:
        return cls(
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


class UsageOut(BaseModel):
    tenant_id: str
    grain: str
    start: date
    end: date
    group_by: list[str]
    rows: list[UsageRowOut]


def create_http_app(reader: UsageReader) -> FastAPI:
    app = FastAPI(
        telemetry=FASTAPI_NATIVE_TELEMETRY_OFF,
        title="aifactory metering (internal)",
        openapi_url="/openapi.json",
        docs_url=None,
    )
    install_problem_handlers(app, METERING_CODES)
    app.add_middleware(TracingMiddleware)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/usage")
    async def usage(
        tenant_id: Annotated[str, Query(min_length=1, description="the authenticated tenant")],
        start: Annotated[date, Query(description="first day (UTC)")],
        end: Annotated[date, Query(description="the day after the last (UTC)")],
        grain: str = "day",
        group_by: Annotated[
            str, Query(description="comma-separated: project, gpu_model")
        ] = "project,gpu_model",
        meter: Annotated[list[str] | None, Query(description="repeat for several; none: all")] = None,
        project_id: str | None = None,
    ) -> UsageOut:
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
        return UsageOut(
            tenant_id=query.tenant_id,
            grain=query.grain.value,
            start=query.start,
            end=query.end,
            group_by=[dimension.value for dimension in query.group_by],
            rows=[UsageRowOut.of(row) for row in rows],
        )

    return app

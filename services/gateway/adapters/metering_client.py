"""Metering's internal HTTP API (shared/contracts/metering_api.py), as the gateway reads it for a tenant
it authenticated: each answer parsed into its typed model.

Every call carries the gateway's signed assertion (shared/contracts/service_auth.py) for its method and
path, naming the tenant it asks for, or the operator's fleet view; metering takes the tenant from there,
so no tenant_id goes on the query string."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.app.usage_and_exports import ExportFormat, UsageQuery
from services.gateway.domain.errors import FieldError, InvalidInput, NotFound
from shared.contracts.metering_api import (
    BUDGETS_PATH,
    CHARGEBACK_PATH,
    DELIVERIES_PATH,
    FOCUS_PATH,
    INVOICE_EXPORT_PATH,
    USAGE_PATH,
    WEBHOOKS_PATH,
    ChargebackReport,
    TenantBudgets,
    TenantDeliveries,
    TenantWebhooks,
    UsageReport,
)
from shared.contracts.service_auth import ServiceScope, authorization

Answer = TypeVar("Answer", bound=BaseModel)

# Metering's names of the usage query parameters, where the gateway's differ.
_GATEWAY_PARAMETER = {"start": "from", "end": "to"}


class MeteringClient:
    """`base_urls`: one metering replica's URL or, comma-separated, several: a read that finds its replica
    gone (no connection, a timeout) goes to the next one, which then serves until it fails in turn.
    `service_key`: the secret shared with metering (AIFACTORY_METERING_API_KEY) that signs each call;
    without it metering refuses every read (401, which the gateway answers as metering unavailable)."""

    def __init__(
        self,
        base_urls: str,
        *,
        service_key: str = "",
        timeout_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        urls = [url.strip() for url in base_urls.split(",") if url.strip()]
        if not urls:
            raise ValueError("no metering URL given")
        self._replicas = [httpx.AsyncClient(base_url=url, timeout=timeout_s) for url in urls]
        self._current = 0
        self._service_key = service_key
        self._wall_clock = wall_clock  # the assertions' expiry: real time, as metering checks it

    async def budgets(self, tenant_id: str, period: str | None) -> TenantBudgets:
        params = {"period": period} if period else {}
        return await self._get(BUDGETS_PATH, ServiceScope.tenant(tenant_id), params, TenantBudgets)

    async def webhooks(self, tenant_id: str) -> TenantWebhooks:
        return await self._get(WEBHOOKS_PATH, ServiceScope.tenant(tenant_id), {}, TenantWebhooks)

    async def deliveries(
        self, tenant_id: str, endpoint_id: str | None, limit: int, after: str | None
    ) -> TenantDeliveries:
        params: dict[str, str | int] = {"limit": limit}
        if endpoint_id:
            params["endpoint_id"] = endpoint_id
        if after is not None:
            params["after"] = after
        response = await self._request(DELIVERIES_PATH, ServiceScope.tenant(tenant_id), params)
        if response.status_code == 400:
            # The cursor came inside the caller's page token: metering refusing it is a bad token.
            raise InvalidInput.one("page_token", "is not a page token issued by this API", "query")
        return _parsed(response, TenantDeliveries)

    async def usage(self, tenant_id: str, query: UsageQuery) -> UsageReport:
        params: dict[str, Any] = {
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
            "grain": query.grain,
            "group_by": query.group_by,
        }
        if query.meters:
            params["meter"] = list(query.meters)
        if query.project_id:
            params["project_id"] = query.project_id
        response = await self._request(USAGE_PATH, ServiceScope.tenant(tenant_id), params)
        if response.status_code == 400:
            # Metering owns the meters, grains and dimensions: its refusal is the caller's bad input.
            raise InvalidInput(
                [
                    FieldError(_GATEWAY_PARAMETER.get(e["field"], e["field"]), e["message"], "query")
                    for e in response.json().get("errors", [])
                ]
            )
        return _parsed(response, UsageReport)

    async def invoice_export(self, tenant_id: str, invoice_id: str, export_format: ExportFormat) -> bytes:
        path = INVOICE_EXPORT_PATH.format(invoice_id=invoice_id)
        response = await self._request(path, ServiceScope.tenant(tenant_id), {"format": export_format})
        if response.status_code == 404:
            raise NotFound("invoice", invoice_id)
        _require_ok(response)
        return response.content

    async def focus(self, tenant_id: str, period: str) -> bytes:
        response = await self._request(FOCUS_PATH, ServiceScope.tenant(tenant_id), {"period": period})
        _require_ok(response)
        return response.content

    async def chargeback(self, tenant_id: str | None, period: str, idle: str | None) -> ChargebackReport:
        # None, and only None, is the operator's fleet view: an empty tenant must never widen to it
        # (ServiceScope refuses an empty tenant id).
        scope = ServiceScope.fleet() if tenant_id is None else ServiceScope.tenant(tenant_id)
        params = {"period": period} | ({"idle": idle} if idle else {})
        return await self._get(CHARGEBACK_PATH, scope, params, ChargebackReport)

    async def _get(
        self, path: str, scope: ServiceScope, params: dict[str, Any], answer: type[Answer]
    ) -> Answer:
        return _parsed(await self._request(path, scope, params), answer)

    async def _request(self, path: str, scope: ServiceScope, params: dict[str, Any]) -> httpx.Response:
        failure: httpx.HTTPError | None = None
        for _ in self._replicas:  # every read is a GET: safe to ask another replica
            replica = self._replicas[self._current]
            request = replica.build_request("GET", path, params=params)
            if self._service_key:
                # Signed for the path as it goes on the wire (decoded, as metering reads it), per attempt.
                request.headers["Authorization"] = authorization(
                    self._service_key, scope, "GET", request.url.path, self._wall_clock()
                )
            try:
                return await replica.send(request)
            except httpx.HTTPError as error:
                failure = error
                self._current = (self._current + 1) % len(self._replicas)
        raise MeteringUnavailable(f"metering did not answer: {type(failure).__name__}") from failure

    async def close(self) -> None:
        for replica in self._replicas:
            await replica.aclose()


def _require_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        # The gateway checked the input: anything else is metering's trouble, not the caller's.
        raise MeteringUnavailable(f"metering answered {response.status_code} to {response.request.url.path}")


def _parsed(response: httpx.Response, answer: type[Answer]) -> Answer:
    _require_ok(response)
    try:
        return answer.model_validate_json(response.content)
    except ValidationError as error:
        # Metering and the gateway share these models: a mismatch is a deployment out of step.
        raise MeteringUnavailable(
            f"metering's answer to {response.request.url.path} is not a {answer.__name__}"
        ) from error

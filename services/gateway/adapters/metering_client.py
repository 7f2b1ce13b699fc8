"""Metering's internal HTTP API, as the gateway reads it for a tenant it authenticated."""

from __future__ import annotations

from typing import Any

import httpx

from services.gateway.app.billing_controls import MeteringUnavailable
from services.gateway.app.usage_and_exports import ExportFormat, UsageQuery
from services.gateway.domain.errors import FieldError, InvalidInput, NotFound

# Metering's names of the usage query parameters, where the gateway's differ.
_GATEWAY_PARAMETER = {"start": "from", "end": "to"}


class MeteringClient:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def budgets(self, tenant_id: str, period: str | None) -> dict[str, Any]:
        params = {"tenant_id": tenant_id} | ({"period": period} if period else {})
        return await self._get("/v1/budgets", params)

    async def webhooks(self, tenant_id: str) -> dict[str, Any]:
        return await self._get("/v1/webhooks", {"tenant_id": tenant_id})

    async def deliveries(self, tenant_id: str, endpoint_id: str | None, limit: int) -> dict[str, Any]:
        params: dict[str, str | int] = {"tenant_id": tenant_id, "limit": limit}
        if endpoint_id:
            params["endpoint_id"] = endpoint_id
        return await self._get("/v1/webhooks/deliveries", params)

    async def usage(self, tenant_id: str, query: UsageQuery) -> dict[str, Any]:
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
            "grain": query.grain,
            "group_by": query.group_by,
        }
        if query.meters:
            params["meter"] = list(query.meters)
        if query.project_id:
            params["project_id"] = query.project_id
        response = await self._request("/v1/usage", params)
        if response.status_code == 400:
            # Metering owns the meters, grains and dimensions: its refusal is the caller's bad input.
            raise InvalidInput(
                [
                    FieldError(_GATEWAY_PARAMETER.get(e["field"], e["field"]), e["message"], "query")
                    for e in response.json().get("errors", [])
                ]
            )
        return _json(response)

    async def invoice_export(self, tenant_id: str, invoice_id: str, export_format: ExportFormat) -> bytes:
        path = f"/v1/invoices/{invoice_id}/export"
        response = await self._request(path, {"tenant_id": tenant_id, "format": export_format})
        if response.status_code == 404:
            raise NotFound("invoice", invoice_id)
        _require_ok(response)
        return response.content

    async def focus(self, tenant_id: str, period: str) -> bytes:
        response = await self._request("/v1/focus", {"tenant_id": tenant_id, "period": period})
        _require_ok(response)
        return response.content

    async def chargeback(self, tenant_id: str | None, period: str, idle: str | None) -> dict[str, Any]:
        # None, and only None, is the operator's fleet view: an empty tenant must never widen to it.
        params = {"period": period} | ({"tenant_id": tenant_id} if tenant_id is not None else {})
        return await self._get("/v1/chargeback", params | ({"idle": idle} if idle else {}))

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return _json(await self._request(path, params))

    async def _request(self, path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.get(path, params=params)
        except httpx.HTTPError as error:
            raise MeteringUnavailable(f"metering did not answer: {type(error).__name__}") from error

    async def close(self) -> None:
        await self._http.aclose()


def _require_ok(response: httpx.Response) -> None:
    if response.status_code != 200:
        # The gateway checked the input: anything else is metering's trouble, not the caller's.
        raise MeteringUnavailable(f"metering answered {response.status_code} to {response.request.url.path}")


def _json(response: httpx.Response) -> dict[str, Any]:
    _require_ok(response)
    body: dict[str, Any] = response.json()
    return body

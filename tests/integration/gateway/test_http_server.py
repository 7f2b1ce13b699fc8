"""The gateway's HTTP edge served by the shared uvicorn host on a real port (tests/unit/shared_http covers
the server itself: port 0, a taken port, stop)."""

from __future__ import annotations

import httpx

from tests.integration.gateway.conftest import OPERATOR, Gateway


async def test_the_service_serves_http_on_a_real_port(gateway: Gateway) -> None:
    await gateway.service.http.wait_listening()
    port = gateway.service.http.port
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        created = await client.post("/v1/tenants", json={"name": "over-tcp"}, headers=OPERATOR)
        assert created.status_code == 201
        spec = (await client.get("/openapi.json")).json()
        assert "/v1/jobs/{job_id}/cancel" in spec["paths"]

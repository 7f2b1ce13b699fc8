"""Calling metering's internal API as the gateway does: each request signed with the service secret that
the test's metering holds, for the tenant it asks about (shared/contracts/service_auth.py)."""

from __future__ import annotations

import time
from collections.abc import Generator

import httpx

from shared.contracts.service_auth import ServiceScope, authorization

# The shared secret of every test metering (and of the gateway in front of it): 32 characters or more.
METERING_API_KEY = "metering-api-key-for-the-tests-0123456789abcdef"


class AsGateway(httpx.Auth):
    """Signs each request for the tenant of its `tenant_id` query parameter, which it takes off the query
    (the gateway sends none), or for the operator's fleet view when there is none; `scope` fixes one."""

    def __init__(self, scope: ServiceScope | None = None, key: str = METERING_API_KEY) -> None:
        self._scope, self._key = scope, key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = self._scope
        tenant_id = request.url.params.get("tenant_id")
        if tenant_id is not None:
            request.url = request.url.copy_remove_param("tenant_id")
            scope = scope or ServiceScope.tenant(tenant_id)
        scope = scope or ServiceScope.fleet()
        request.headers["Authorization"] = authorization(
            self._key, scope, request.method, request.url.path, time.time()
        )
        yield request

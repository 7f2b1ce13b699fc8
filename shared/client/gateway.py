"""A small HTTP client for the gateway, used by the CLI, the demo, the end-to-end tests and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

# The gateway's largest page: whole lists in the fewest round trips.
_PAGE_SIZE = 500


class GatewayError(Exception):
    """The gateway answered with a problem (RFC 9457); the message is its title and detail."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}".strip())


class GatewayUnreachable(Exception):
    """No answer from the gateway at all (refused, timed out, bad address): the URL and why."""

    def __init__(self, base_url: str, cause: httpx.TransportError) -> None:
        self.base_url = base_url
        super().__init__(f"cannot reach the gateway at {base_url} ({type(cause).__name__}: {cause})")


@dataclass
class GatewayClient:
    base_url: str
    api_key: str
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=self.timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def with_key(self, api_key: str) -> GatewayClient:
        return GatewayClient(self.base_url, api_key, self.timeout_s)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise GatewayUnreachable(self.base_url, error) from error
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text}
            raise GatewayError(response.status_code, problem)
        return response.json() if response.content else None

    def _items(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a paged list, following next_page_token to the last page."""
        items: list[dict[str, Any]] = []
        query = {k: v for k, v in (params or {}).items() if v is not None} | {"page_size": _PAGE_SIZE}
        while True:
            page = self._call("GET", path, params=query)
            items.extend(page["items"])
            if not page.get("next_page_token"):
                return items
            query["page_token"] = page["next_page_token"]

    # Operator and tenant administration
    def tenants(self) -> list[dict[str, Any]]:
        return self._items("/v1/tenants")

    def create_tenant(self, name: str, currency: str = "USD") -> dict[str, Any]:
        return self._call("POST", "/v1/tenants", json={"name": name, "currency": currency})

    # API keys: a secret is in the answer of create_key and rotate_key only
    def create_key(
        self,
        tenant_id: str,
        role: str,
        name: str,
        expires_at: str | None = None,
        ttl_s: int | None = None,
    ) -> dict[str, Any]:
        """`expires_at` (ISO 8601 with offset) or `ttl_s` (seconds from now): when the key stops working."""
        body: dict[str, Any] = {"role": role, "name": name}
        body |= {k: v for k, v in {"expires_at": expires_at, "ttl_s": ttl_s}.items() if v is not None}
        return self._call("POST", f"/v1/tenants/{tenant_id}/keys", json=body)

    def keys(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        return self._items("/v1/keys", {"tenant_id": tenant_id})

    def key(self, key_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/keys/{key_id}")

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/keys/{key_id}/revoke")

    def rotate_key(self, key_id: str, grace_s: int = 0) -> dict[str, Any]:
        """A new secret for the key; the old one keeps working `grace_s` seconds (0: stops at once)."""
        return self._call("POST", f"/v1/keys/{key_id}/rotate", json={"grace_s": grace_s})

    # The audit log: newest first
    def audit(
        self,
        tenant_id: str | None = None,
        action: str | None = None,
        since: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest `limit` entries (operator: every tenant's, or `tenant_id`'s; a tenant admin: its own)."""
        filters = {"tenant_id": tenant_id, "action": action, "since": since}
        query = {k: v for k, v in filters.items() if v is not None} | {"page_size": min(limit, _PAGE_SIZE)}
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = self._call("GET", "/v1/audit", params=query)
            items.extend(page["items"])
            if not page.get("next_page_token"):
                break
            query["page_token"] = page["next_page_token"]
        return items[:limit]

    def create_project(self, name: str, tenant_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name}
        if tenant_id:
            body["tenant_id"] = tenant_id
        return self._call("POST", "/v1/projects", json=body)

    def projects(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        return self._items("/v1/projects", {"tenant_id": tenant_id})

    def set_quotas(self, project_id: str, quotas: dict[str, int]) -> Any:
        return self._call("PUT", f"/v1/projects/{project_id}/quotas", json={"quotas": quotas})

    def quotas(self, project_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/projects/{project_id}/quotas")

    def set_price_book(self, tenant_id: str, price_book: dict[str, Any]) -> Any:
        return self._call("PUT", f"/v1/tenants/{tenant_id}/price-book", json=price_book)

    def price_book(self, tenant_id: str) -> dict[str, Any]:
        """The version in force now."""
        return self._call("GET", f"/v1/tenants/{tenant_id}/price-book")

    # Budgets: `scope` is "projects" or "tenants"
    def set_budget(self, scope: str, scope_id: str, budget: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/v1/{scope}/{scope_id}/budget", json=budget)

    def budget(self, scope: str, scope_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/{scope}/{scope_id}/budget")

    def budgets(self, tenant_id: str | None = None, period: str | None = None) -> dict[str, Any]:
        params = {k: v for k, v in {"tenant_id": tenant_id, "period": period}.items() if v is not None}
        return self._call("GET", "/v1/budgets", params=params)

    # Fleet and usage
    def nodes(self) -> list[dict[str, Any]]:
        return self._items("/v1/nodes")

    def usage(self, start: str, end: str, **query: Any) -> dict[str, Any]:
        """GET /v1/usage from `start` to `end` (YYYY-MM-DD); query: grain, group_by, meter (a list),
        project_id, tenant_id (operator)."""
        params = {"from": start, "to": end} | {k: v for k, v in query.items() if v not in (None, [])}
        return self._call("GET", "/v1/usage", params=params)

    # Jobs
    def submit(
        self, project_id: str, spec: dict[str, Any], idempotency_key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._call("POST", "/v1/jobs", json={"project_id": project_id, "spec": spec}, headers=headers)

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/jobs/{job_id}")

    def jobs(self, **filters: Any) -> list[dict[str, Any]]:
        """Every job matching the filters, following the pages."""
        return self._items("/v1/jobs", filters)

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._call("POST", f"/v1/jobs/{job_id}/cancel")

    # Invoices
    def invoices(self, tenant_id: str | None = None, period: str | None = None) -> list[dict[str, Any]]:
        return self._items("/v1/invoices", {"tenant_id": tenant_id, "period": period})

    def finalize_invoice(self, tenant_id: str, period: str) -> Any:
        return self._call("POST", "/v1/invoices/finalize", json={"tenant_id": tenant_id, "period": period})

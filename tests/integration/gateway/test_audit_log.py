"""The audit log on a real PostgreSQL: every change through the gateway leaves one entry, in its own
transaction; the table is append-only; GET /v1/audit shows a tenant's admin its own tenant's only."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from services.gateway.adapters.postgres.audit_log import PgAuditLog
from services.gateway.app.administration import CreateTenant
from services.gateway.domain.audit import AuditEntry
from services.gateway.domain.auth import Principal
from tests.integration.gateway.conftest import OPERATOR, Gateway, bearer, job_spec
from tests.integration.gateway.test_bad_input import assert_problem


async def audit(gateway: Gateway, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await gateway.http.get("/v1/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_a_scenario_shows_each_action_in_order_with_its_actor(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()  # the operator creates it, its admin the project
    member_key = await gateway.new_key(tenant, "member")
    member = bearer(member_key) | {"X-Request-Id": "req-submit-1"}
    submitted = await gateway.http.post(
        "/v1/jobs", json={"project_id": tenant.project_id, "spec": job_spec()}, headers=member
    )
    assert submitted.status_code == 201, submitted.text
    job_id = submitted.json()["job_id"]
    cancelled = await gateway.http.post(f"/v1/jobs/{job_id}/cancel", headers=bearer(member_key))
    assert cancelled.status_code == 202, cancelled.text
    keys = (await gateway.http.get("/v1/keys", headers=bearer(tenant.admin_key))).json()["items"]
    member_key_id = next(k["key_id"] for k in keys if k["role"] == "member")
    admin_key_id = next(k["key_id"] for k in keys if k["role"] == "admin")
    revoked = await gateway.http.post(f"/v1/keys/{member_key_id}/revoke", headers=bearer(tenant.admin_key))
    assert revoked.status_code == 200, revoked.text

    entries = await audit(gateway, OPERATOR, tenant_id=tenant.tenant_id)
    oldest_first = [
        (e["action"], e["actor"], e["role"], e["key_id"], e["target_id"]) for e in reversed(entries)
    ]
    t = tenant.tenant_id
    assert oldest_first == [
        ("tenant.create", "operator", "operator", None, t),
        ("project.create", t, "admin", admin_key_id, tenant.project_id),
        ("key.create", t, "admin", admin_key_id, member_key_id),
        ("job.submit", t, "member", member_key_id, job_id),
        ("job.cancel", t, "member", member_key_id, job_id),
        ("key.revoke", t, "admin", admin_key_id, member_key_id),
    ]
    assert all(e["tenant_id"] == t and e["outcome"] == "ok" for e in entries)
    assert next(e for e in entries if e["action"] == "job.submit")["request_id"] == "req-submit-1"
    # Revoking it again changes nothing, so it records nothing; the filters narrow the log.
    again = await gateway.http.post(f"/v1/keys/{member_key_id}/revoke", headers=bearer(tenant.admin_key))
    assert again.status_code == 200
    assert [e["action"] for e in await audit(gateway, OPERATOR, action="key.revoke")] == ["key.revoke"]
    assert await audit(gateway, OPERATOR, since="2999-01-01T00:00:00Z") == []


async def test_a_tenant_admin_sees_only_its_own_tenant(gateway: Gateway) -> None:
    acme = await gateway.new_tenant("acme")
    globex = await gateway.new_tenant("globex")
    await gateway.new_key(globex, "viewer")

    seen = await audit(gateway, bearer(acme.admin_key))
    assert {e["tenant_id"] for e in seen} == {acme.tenant_id}
    assert [e["action"] for e in seen] == ["project.create", "tenant.create"]
    other = await gateway.http.get(
        "/v1/audit", params={"tenant_id": globex.tenant_id}, headers=bearer(acme.admin_key)
    )
    assert_problem(other, 404)
    assert len(await audit(gateway, OPERATOR)) == 5  # both tenants' entries
    for role in ("member", "viewer"):
        key = await gateway.new_key(acme, role)
        refused = await gateway.http.get("/v1/audit", headers=bearer(key))
        assert_problem(refused, 403)


async def test_the_database_refuses_to_change_or_remove_an_entry(gateway: Gateway) -> None:
    await gateway.new_tenant()
    pool = gateway.service.db.pool
    for statement in (
        "UPDATE audit_log SET actor = 'nobody'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await pool.execute(statement)
    assert await gateway.count("SELECT count(*) FROM audit_log WHERE actor = 'operator'") == 1


async def test_a_rolled_back_action_leaves_no_entry(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = PgAuditLog.append

    async def append_then_fail(self: PgAuditLog, entry: AuditEntry) -> None:
        await original(self, entry)  # written, then the transaction fails after it
        raise RuntimeError("the commit failed")

    monkeypatch.setattr(PgAuditLog, "append", append_then_fail)
    with pytest.raises(RuntimeError):
        await gateway.service.use_cases.administration.create_tenant(Principal.operator(), CreateTenant("x"))
    assert await gateway.count("SELECT count(*) FROM audit_log") == 0
    assert await gateway.count("SELECT count(*) FROM tenants") == 0


async def test_entries_come_in_pages_newest_first(gateway: Gateway) -> None:
    for name in ("a", "b", "c"):
        await gateway.http.post("/v1/tenants", json={"name": name}, headers=OPERATOR)
    first = (await gateway.http.get("/v1/audit", params={"page_size": 2}, headers=OPERATOR)).json()
    assert len(first["items"]) == 2 and first["next_page_token"]
    rest = await audit(gateway, OPERATOR, page_size=2, page_token=first["next_page_token"])
    ids = [e["entry_id"] for e in first["items"] + rest]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3


async def test_bad_query_input_is_a_422_naming_the_field(gateway: Gateway) -> None:
    for params, field in (
        ({"page_size": 0}, "page_size"),
        ({"page_size": 501}, "page_size"),
        ({"page_token": "garbage!"}, "page_token"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-01-01T00:00:00"}, "since"),  # no offset
        ({"action": "job.explode"}, "action"),
    ):
        response = await gateway.http.get("/v1/audit", params=params, headers=OPERATOR)
        assert_problem(response, 422, field)

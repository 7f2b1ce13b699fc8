"""Tenants, keys, projects and jobs through the HTTP API of a running gateway."""

from __future__ import annotations

import hashlib

from tests.integration.gateway.conftest import OPERATOR, Gateway, bearer, job_spec


async def test_operator_creates_a_tenant_whose_admin_key_manages_projects_and_keys(gateway: Gateway) -> None:
    created = await gateway.http.post(
        "/v1/tenants", json={"name": "acme", "currency": "EUR"}, headers=OPERATOR
    )
    assert created.status_code == 201
    tenant = created.json()
    assert tenant["tenant_id"].startswith("tnt_") and len(tenant["tenant_id"]) == 16
    assert tenant["currency"] == "EUR"
    assert tenant["admin_key"].startswith("afk_")
    admin = bearer(tenant["admin_key"])

    project = await gateway.http.post("/v1/projects", json={"name": "vision"}, headers=admin)
    assert project.status_code == 201
    assert project.json()["tenant_id"] == tenant["tenant_id"]
    assert project.json()["project_id"].startswith("prj_")

    key = await gateway.http.post(
        f"/v1/tenants/{tenant['tenant_id']}/keys",
        json={"role": "viewer", "name": "dashboards"},
        headers=admin,
    )
    assert key.status_code == 201
    assert key.json()["role"] == "viewer" and key.json()["api_key"].startswith("afk_")
    listed = await gateway.http.get("/v1/projects", headers=bearer(key.json()["api_key"]))
    assert [p["name"] for p in listed.json()["items"]] == ["vision"]
    # Only the SHA-256 hash is stored, never the key itself.
    plaintext = key.json()["api_key"]
    sql = "SELECT count(*) FROM api_keys WHERE key_hash = $1"
    assert await gateway.count(sql, hashlib.sha256(plaintext.encode()).hexdigest()) == 1
    assert await gateway.count(sql, plaintext) == 0


async def test_the_operator_must_name_the_tenant_of_a_new_project(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    unnamed = await gateway.http.post("/v1/projects", json={"name": "ops"}, headers=OPERATOR)
    assert unnamed.status_code == 422
    assert unnamed.json()["errors"][0]["field"] == "tenant_id"
    named = await gateway.http.post(
        "/v1/projects", json={"name": "ops", "tenant_id": tenant.tenant_id}, headers=OPERATOR
    )
    assert named.status_code == 201 and named.json()["tenant_id"] == tenant.tenant_id


async def test_a_submitted_job_reads_back_at_once_as_pending(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    member = bearer(await gateway.new_key(tenant, "member"))
    submitted = await gateway.http.post(
        "/v1/jobs", json={"project_id": tenant.project_id, "spec": job_spec(replicas=2)}, headers=member
    )
    assert submitted.status_code == 201
    job = submitted.json()
    assert job["job_id"].startswith("job_") and len(job["job_id"]) == 20
    assert submitted.headers["location"] == f"/v1/jobs/{job['job_id']}"

    fetched = await gateway.http.get(f"/v1/jobs/{job['job_id']}", headers=member)
    assert fetched.status_code == 200
    assert fetched.json() == job
    assert job["state"] == "pending" and job["tenant_id"] == tenant.tenant_id
    assert job["spec"]["replicas"] == 2 and job["spec"]["command"] == ["python", "train.py"]


async def test_job_listing_pages_through_every_job_once_newest_first(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    ids = []
    for i in range(7):
        response = await gateway.http.post(
            "/v1/jobs", json={"project_id": tenant.project_id, "spec": job_spec(name=f"j{i}")}, headers=admin
        )
        ids.append(response.json()["job_id"])

    seen: list[str] = []
    pages = 0
    params: dict[str, str | int] = {"page_size": 3, "project_id": tenant.project_id}
    while True:
        page = (await gateway.http.get("/v1/jobs", params=params, headers=admin)).json()
        pages += 1
        seen += [item["job_id"] for item in page["items"]]
        if page["next_page_token"] is None:
            break
        params["page_token"] = page["next_page_token"]
    assert pages == 3
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    assert seen[0] == ids[-1]  # newest first

    pending = await gateway.http.get("/v1/jobs", params={"state": "running"}, headers=admin)
    assert pending.json() == {"items": [], "next_page_token": None}


async def test_the_same_idempotency_key_and_body_give_the_same_job(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    headers = bearer(tenant.admin_key) | {"Idempotency-Key": "retry-1"}
    body = {"project_id": tenant.project_id, "spec": job_spec()}
    first = await gateway.http.post("/v1/jobs", json=body, headers=headers)
    again = await gateway.http.post("/v1/jobs", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["job_id"] == first.json()["job_id"]
    assert await gateway.count("SELECT count(*) FROM jobs") == 1

    changed = await gateway.http.post("/v1/jobs", json=body | {"spec": job_spec(replicas=3)}, headers=headers)
    assert changed.status_code == 422
    assert changed.headers["content-type"] == "application/problem+json"
    assert "retry-1" in changed.json()["detail"] and first.json()["job_id"] in changed.json()["detail"]


async def test_a_tenant_cannot_see_or_touch_another_tenants_jobs_or_projects(gateway: Gateway) -> None:
    acme = await gateway.new_tenant("acme")
    globex = await gateway.new_tenant("globex")
    job = (
        await gateway.http.post(
            "/v1/jobs",
            json={"project_id": acme.project_id, "spec": job_spec()},
            headers=bearer(acme.admin_key),
        )
    ).json()
    intruder = bearer(globex.admin_key)

    read = await gateway.http.get(f"/v1/jobs/{job['job_id']}", headers=intruder)
    cancel = await gateway.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=intruder)
    submit = await gateway.http.post(
        "/v1/jobs", json={"project_id": acme.project_id, "spec": job_spec()}, headers=intruder
    )
    keys = await gateway.http.post(
        f"/v1/tenants/{acme.tenant_id}/keys", json={"role": "admin", "name": "x"}, headers=intruder
    )
    assert [r.status_code for r in (read, cancel, submit, keys)] == [404, 404, 404, 404]
    assert read.json()["detail"] == f"job {job['job_id']} not found"
    assert submit.json()["detail"] == f"project {acme.project_id} not found"
    listed = await gateway.http.get("/v1/jobs", headers=intruder)
    assert listed.json()["items"] == []
    assert (await gateway.http.get(f"/v1/jobs/{job['job_id']}", headers=OPERATOR)).status_code == 200


async def test_a_viewer_reads_but_cannot_submit_or_cancel(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    job = (
        await gateway.http.post(
            "/v1/jobs",
            json={"project_id": tenant.project_id, "spec": job_spec()},
            headers=bearer(tenant.admin_key),
        )
    ).json()
    viewer = bearer(await gateway.new_key(tenant, "viewer"))

    submit = await gateway.http.post(
        "/v1/jobs", json={"project_id": tenant.project_id, "spec": job_spec()}, headers=viewer
    )
    cancel = await gateway.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=viewer)
    assert (submit.status_code, cancel.status_code) == (403, 403)
    assert "member role" in submit.json()["detail"] and "viewer" in submit.json()["detail"]
    assert (await gateway.http.get(f"/v1/jobs/{job['job_id']}", headers=viewer)).status_code == 200
    assert await gateway.count("SELECT count(*) FROM jobs") == 1


async def test_tenant_keys_are_refused_operator_actions(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    attempts = [
        await gateway.http.post("/v1/tenants", json={"name": "mine"}, headers=admin),
        await gateway.http.put(
            f"/v1/projects/{tenant.project_id}/quotas", json={"quotas": {"A100": 99}}, headers=admin
        ),
        await gateway.http.put(
            f"/v1/tenants/{tenant.tenant_id}/price-book", json={"gpu_hour": {"A100": "0"}}, headers=admin
        ),
        await gateway.http.get("/v1/nodes", headers=admin),
        await gateway.http.post(
            "/v1/invoices/finalize", json={"tenant_id": tenant.tenant_id, "period": "2026-01"}, headers=admin
        ),
    ]
    assert [a.status_code for a in attempts] == [403] * 5
    assert all(a.json()["detail"] == "only the platform operator may do this" for a in attempts)


async def test_cancel_is_accepted_once_and_refused_after_the_job_finished(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    job = (
        await gateway.http.post(
            "/v1/jobs", json={"project_id": tenant.project_id, "spec": job_spec()}, headers=admin
        )
    ).json()

    first = await gateway.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=admin)
    again = await gateway.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=admin)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["cancel_requested_at"] is not None
    assert again.json()["cancel_requested_at"] == first.json()["cancel_requested_at"]

    await gateway.service.db.pool.execute(
        "UPDATE jobs SET state = 'cancelled' WHERE job_id = $1", job["job_id"]
    )
    finished = await gateway.http.post(f"/v1/jobs/{job['job_id']}/cancel", headers=admin)
    assert finished.status_code == 409
    assert (
        finished.json()["detail"] == f"job {job['job_id']} is already cancelled; there is nothing to cancel"
    )

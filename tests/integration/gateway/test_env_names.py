"""A job whose environment no process could take is a 422 naming the entry (spec.env.<name>)."""

from __future__ import annotations

from tests.integration.gateway.conftest import Gateway, bearer, job_spec


async def test_an_env_name_with_an_equals_sign_or_a_nul_value_is_a_422_naming_it(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    for env, field in (({"A=B": "1"}, "spec.env.A=B"), ({"OK": "x\u0000y"}, "spec.env.OK")):
        response = await gateway.http.post(
            "/v1/jobs",
            json={"project_id": tenant.project_id, "spec": job_spec(env=env)},
            headers=bearer(tenant.admin_key),
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [error["field"] for error in response.json()["errors"]] == [field]
        assert field in response.json()["detail"]
    assert await gateway.count("SELECT count(*) FROM jobs") == 0

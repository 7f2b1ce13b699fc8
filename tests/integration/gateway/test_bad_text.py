"""Text no database can store (a NUL, a lone UTF-16 surrogate) is a 422 naming the field, never a 500."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.gateway.conftest import OPERATOR, Gateway, bearer, job_spec
from tests.integration.gateway.test_bad_input import assert_problem

# JSON escape sequences, as a client sends them: json.dumps would refuse a lone surrogate in Python.
BAD_TEXT = {"nul": "\\u0000", "lone surrogate": "\\ud800"}


async def post_raw(gateway: Gateway, path: str, body: str, headers: dict[str, str]) -> httpx.Response:
    return await gateway.http.post(
        path, content=body.encode(), headers=headers | {"Content-Type": "application/json"}
    )


def assert_names_field(response: httpx.Response, field: str) -> None:
    problem = assert_problem(response, 422, field)
    assert [e["field"] for e in problem["errors"]] == [field], problem
    assert problem["errors"][0]["in"] == "body"


@pytest.mark.parametrize("bad", BAD_TEXT.values(), ids=BAD_TEXT.keys())
async def test_bad_text_in_names_commands_and_env_is_a_422_naming_the_field(
    gateway: Gateway, bad: str
) -> None:
    tenant_name = await post_raw(gateway, "/v1/tenants", f'{{"name": "acme{bad}"}}', OPERATOR)
    assert_names_field(tenant_name, "name")

    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    project_name = await post_raw(gateway, "/v1/projects", f'{{"name": "r{bad}d"}}', admin)
    assert_names_field(project_name, "name")

    spec = json.dumps({"project_id": tenant.project_id, "spec": job_spec()})
    command = spec.replace('"train.py"', f'"train{bad}.py"')
    assert_names_field(await post_raw(gateway, "/v1/jobs", command, admin), "spec.command.1")
    env = spec.replace('"spec": {', f'"spec": {{"env": {{"MODE": "fast{bad}"}}, ')
    assert_names_field(await post_raw(gateway, "/v1/jobs", env, admin), "spec.env.MODE")
    key = spec.replace('"spec": {', f'"spec": {{"env": {{"MO{bad}DE": "fast"}}, ')
    assert_names_field(await post_raw(gateway, "/v1/jobs", key, admin), "spec.env")

    assert await gateway.count("SELECT count(*) FROM jobs") == 0
    assert await gateway.count("SELECT count(*) FROM tenants") == 1


async def test_a_nul_in_the_query_or_path_is_a_422(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()
    admin = bearer(tenant.admin_key)
    query = await gateway.http.get("/v1/jobs", params={"project_id": "p\x00"}, headers=admin)
    problem = assert_problem(query, 422, "project_id")
    assert problem["errors"] == [
        {"field": "project_id", "in": "query", "message": problem["errors"][0]["message"]}
    ]
    path = await gateway.http.get("/v1/jobs/job%00x", headers=admin)
    assert_problem(path, 422, "path")

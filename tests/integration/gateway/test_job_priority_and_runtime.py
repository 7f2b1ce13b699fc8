"""Issue 11: a job's priority comes from the operator's priority classes, within what its project may
use, and its maximum runtime is bounded: anything else is a 422 naming the field and stores nothing."""

from __future__ import annotations

import pytest

from shared.events.jobs import MAX_RUNTIME_S
from tests.integration.gateway.conftest import OPERATOR, Gateway, Tenant, bearer, job_spec
from tests.integration.gateway.test_bad_input import assert_problem, submit


@pytest.mark.parametrize(
    ("overrides", "field", "detail"),
    [
        ({"max_runtime_s": 10**400}, "spec.max_runtime_s", "less than or equal to 31622400"),
        ({"max_runtime_s": MAX_RUNTIME_S + 1}, "spec.max_runtime_s", "less than or equal to 31622400"),
        ({"priority": 2**40}, "spec.priority", "priority_class"),
        ({"priority_class": "urgent"}, "spec.priority_class", "unknown priority class 'urgent'"),
        ({"priority_class": "high"}, "spec.priority_class", "above what this project may use"),
    ],
)
async def test_an_unbounded_runtime_or_a_priority_the_project_may_not_use_is_a_422(
    gateway: Gateway, overrides: dict[str, object], field: str, detail: str
) -> None:
    tenant = await gateway.new_tenant()

    response = await submit(gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(**overrides)})

    problem = assert_problem(response, 422, field, detail)
    assert [e["field"] for e in problem["errors"]] == [field]
    assert await gateway.count("SELECT count(*) FROM jobs") == 0


async def test_a_job_runs_in_the_default_class_unless_it_names_one_its_project_allows(
    gateway: Gateway,
) -> None:
    tenant = await gateway.new_tenant()
    plain = await submit(gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec()})
    assert plain.status_code == 201, plain.text
    assert (plain.json()["spec"]["priority_class"], plain.json()["spec"]["priority"]) == ("normal", 0)

    # The operator allows a project more.
    made = await gateway.http.post(
        "/v1/projects",
        json={"name": "urgent", "tenant_id": tenant.tenant_id, "max_priority_class": "high"},
        headers=OPERATOR,
    )
    assert made.status_code == 201, made.text
    assert made.json()["max_priority_class"] == "high"
    urgent = Tenant(tenant.tenant_id, tenant.admin_key, made.json()["project_id"])
    high = await submit(
        gateway, urgent, {"project_id": urgent.project_id, "spec": job_spec(priority_class="high")}
    )
    assert high.status_code == 201, high.text
    assert (high.json()["spec"]["priority_class"], high.json()["spec"]["priority"]) == ("high", 100)


async def test_only_the_operator_sets_a_projects_maximum_class_and_only_to_a_known_class(
    gateway: Gateway,
) -> None:
    tenant = await gateway.new_tenant()
    by_tenant = await gateway.http.post(
        "/v1/projects", json={"name": "mine", "max_priority_class": "high"}, headers=bearer(tenant.admin_key)
    )
    assert_problem(by_tenant, 403, "operator")

    unknown = await gateway.http.post(
        "/v1/projects",
        json={"name": "x", "tenant_id": tenant.tenant_id, "max_priority_class": "urgent"},
        headers=OPERATOR,
    )
    problem = assert_problem(unknown, 422, "max_priority_class", "unknown priority class 'urgent'")
    assert [e["field"] for e in problem["errors"]] == ["max_priority_class"]

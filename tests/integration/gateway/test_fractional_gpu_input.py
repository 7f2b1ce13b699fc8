"""A job may ask for a fraction of one GPU: bad fractions are RFC 9457 problems naming the field and
store nothing; a good one is kept as submitted."""

from __future__ import annotations

import pytest

from tests.integration.gateway.conftest import Gateway, bearer, job_spec
from tests.integration.gateway.test_bad_input import assert_problem, submit


@pytest.mark.parametrize(
    ("fraction", "gpus", "detail"),
    [
        (0, 1, "greater than 0"),
        ("1.01", 1, "less than or equal to 1"),
        (0.0001, 1, "no more than 3 decimal places"),
        ("0.5", 2, "a fraction of a GPU needs gpus_per_replica = 1, not 2"),
    ],
)
async def test_a_bad_gpu_fraction_is_a_422_naming_it(
    gateway: Gateway, fraction: object, gpus: int, detail: str
) -> None:
    tenant = await gateway.new_tenant()
    spec = job_spec(gpu_fraction=fraction, gpus_per_replica=gpus)

    response = await submit(gateway, tenant, {"project_id": tenant.project_id, "spec": spec})

    problem = assert_problem(response, 422, "spec.gpu_fraction", detail)
    assert [e["field"] for e in problem["errors"]] == ["spec.gpu_fraction"]
    assert await gateway.count("SELECT count(*) FROM jobs") == 0


async def test_a_half_gpu_job_is_accepted_and_reads_back_with_its_fraction(gateway: Gateway) -> None:
    tenant = await gateway.new_tenant()

    response = await submit(
        gateway, tenant, {"project_id": tenant.project_id, "spec": job_spec(gpu_fraction=0.5)}
    )

    assert response.status_code == 201, response.text
    job = (
        await gateway.http.get(f"/v1/jobs/{response.json()['job_id']}", headers=bearer(tenant.admin_key))
    ).json()
    assert job["spec"]["gpu_fraction"] == "0.5"

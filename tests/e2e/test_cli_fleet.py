"""The fleet and job commands against the running factory: nodes, usage, status, and submit (its project
from the connection file), jobs, cancel and invoice, in table and JSON output."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.cli.status_command import month_of
from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory
from tests.e2e.cli import Cli
from tests.e2e.conftest import Tenant, make_tenant, wait_for_state


@pytest.fixture
def cli(factory: Factory, operator: GatewayClient, tmp_path: Path) -> Cli:
    return Cli(factory.gateway_url, factory.admin_key, tmp_path / "connection.env")


@pytest.fixture
def tenant(operator: GatewayClient) -> Tenant:
    return make_tenant(operator, "cli-jobs", quota=2)


def test_nodes_list_state_and_gpus(cli: Cli) -> None:
    nodes = cli("nodes", "-o", "json").json()
    assert {(n["gpu_model"], n["gpu_count"]) for n in nodes} == {("A100", 4)}
    table = cli("nodes")
    assert table.code == 0 and all(n["node_id"] in table.stdout for n in nodes)


def test_submit_defaults_to_the_saved_project_then_jobs_cancel_and_status(cli: Cli, tenant: Tenant) -> None:
    key = tenant.client.api_key
    assert cli("submit", "--", "true", api_key=key).refused().startswith("error: no project: pass --project")
    assert cli("submit", "--project", "prj_nope", "--", "true", api_key=key).refused() == (
        "error: project prj_nope not found"
    )

    # URL, key and project all from the connection file, as `aifactory up` leaves them.
    cli.save_connection(
        AIFACTORY_GATEWAY_URL=cli.gateway_url, AIFACTORY_API_KEY=key, AIFACTORY_PROJECT=tenant.project_id
    )
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    job = cli("submit", "--name", "sleeper", "--", *sleeper, from_file=True).json()
    assert (job["project_id"], job["spec"]["name"]) == (tenant.project_id, "sleeper")
    wait_for_state(tenant, job["job_id"], {"running"})

    listed = cli("jobs", "--project", tenant.project_id, "-o", "json", api_key=key).json()
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    assert job["job_id"] in cli("jobs", api_key=key).stdout

    summary = cli("status", "-o", "json").json()
    fleet = summary["fleet"]
    assert fleet["nodes_ready"] <= fleet["nodes_total"] and fleet["gpus_total"] >= 1
    assert float(fleet["gpus_in_use"]) >= 1 and summary["jobs"].get("running", 0) >= 1
    assert summary["period"] == datetime.now(UTC).strftime("%Y-%m")
    own = cli("status", "-o", "json", api_key=key).json()
    assert (own["fleet"], own["jobs"]) == (None, {"running": 1})
    table = cli("status")
    assert table.code == 0 and "nodes ready" in table.stdout and "running" in table.stdout

    cancelled = cli("cancel", job["job_id"], "-o", "json", api_key=key).json()
    assert cancelled["job_id"] == job["job_id"] and cancelled["cancel_requested_at"]
    again = cli("cancel", job["job_id"], api_key=key)  # while it stops, or once it has (a quick stop)
    assert "cancel requested" in again.stdout or again.refused() == (
        f"error: job {job['job_id']} is already cancelled; there is nothing to cancel"
    )
    wait_for_state(tenant, job["job_id"], {"cancelled"})
    assert cli("cancel", "job_nope", api_key=key).refused() == "error: job job_nope not found"


def test_usage_and_invoices_of_a_tenant(cli: Cli, tenant: Tenant) -> None:
    key = tenant.client.api_key
    first, following = month_of(datetime.now(UTC).date())
    report = cli("usage", "--group-by", "project", "--meter", "gpu_seconds", "-o", "json", api_key=key).json()
    assert (report["tenant_id"], report["start"], report["end"]) == (
        tenant.tenant_id,
        first.isoformat(),
        following.isoformat(),
    )
    assert report["group_by"] == ["project"]
    by_hour = cli(
        "usage",
        "--granularity",
        "hour",
        "--from",
        first.isoformat(),
        "--to",
        following.isoformat(),
        api_key=key,
    )
    assert by_hour.code == 0 and "hour" in by_hour.stdout and tenant.tenant_id in by_hour.stdout
    assert cli("usage", "--granularity", "week", api_key=key).refused().startswith("error: query.grain: ")
    assert cli("usage", "--from", "yesterday", api_key=key).refused().startswith("error: query.from: ")
    assert cli("usage").refused() == "error: query.tenant_id: the operator must name the tenant"

    assert isinstance(cli("invoice", "-o", "json", api_key=key).json(), list)
    assert cli("invoice", "--tenant", tenant.tenant_id).code == 0
    assert cli("invoice", "--period", "2026-13", api_key=key).refused().startswith("error: query.period: ")


def test_an_unreachable_gateway_is_one_line(cli: Cli) -> None:
    unreachable = Cli("http://127.0.0.1:9", cli.api_key, cli.connection_file)
    assert (
        unreachable("tenants", "list")
        .refused()
        .startswith("error: cannot reach the gateway at http://127.0.0.1:9")
    )

"""`aifactory audit` against the running factory: the operator's and a tenant admin's view of the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory
from tests.e2e.cli import Cli


@pytest.fixture
def cli(factory: Factory, operator: GatewayClient, tmp_path: Path) -> Cli:
    return Cli(factory.gateway_url, factory.admin_key, tmp_path / "connection.env")


def test_audit_shows_who_did_what_newest_first(cli: Cli) -> None:
    tenant = cli("tenants", "create", "audited-co", "-o", "json").json()
    tenant_id = tenant["tenant_id"]
    project = cli("projects", "create", "research", "-o", "json", api_key=tenant["admin_key"]).json()

    entries = cli("audit", "--tenant", tenant_id, "-o", "json").json()
    assert [(e["action"], e["actor"], e["target_id"]) for e in entries] == [
        ("project.create", tenant_id, project["project_id"]),
        ("tenant.create", "operator", tenant_id),
    ]
    created = cli("audit", "--action", "tenant.create", "--limit", "1", "-o", "json").json()
    assert [e["target_id"] for e in created] == [tenant_id]
    table = cli("audit", api_key=tenant["admin_key"])
    assert table.code == 0 and "project.create" in table.stdout and "tenant.create" in table.stdout
    # A tenant admin reads its own tenant's log only; a bad filter is one line naming it.
    assert cli("audit", "--tenant", "tnt_someone_else", api_key=tenant["admin_key"]).refused()
    assert "action" in cli("audit", "--action", "job.explode").refused()

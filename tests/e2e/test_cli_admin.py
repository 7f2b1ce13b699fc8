"""The administration commands against the running factory: tenants, projects, quotas, price books and
budgets, each in table and JSON output, and bad input as one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory
from tests.e2e.cli import Cli


@pytest.fixture
def cli(factory: Factory, operator: GatewayClient, tmp_path: Path) -> Cli:
    return Cli(factory.gateway_url, factory.admin_key, tmp_path / "connection.env")


def new_tenant(cli: Cli, name: str) -> dict[str, str]:
    created: dict[str, str] = cli("tenants", "create", name, "--currency", "EUR", "-o", "json").json()
    return created


def test_tenants_create_and_list(cli: Cli) -> None:
    shown = cli("tenants", "create", "initech")
    assert shown.code == 0 and "initech" in shown.stdout and "admin_key" in shown.stdout
    created = new_tenant(cli, "hooli")
    assert (created["name"], created["currency"]) == ("hooli", "EUR") and created["admin_key"]

    listed = cli("tenants", "list", "-o", "json").json()
    assert {"initech", "hooli"} <= {t["name"] for t in listed}
    assert created["tenant_id"] in cli("tenants", "list").stdout
    # A tenant key sees only its own tenant.
    own = cli("tenants", "list", "--output", "json", api_key=created["admin_key"]).json()
    assert [t["tenant_id"] for t in own] == [created["tenant_id"]]


def test_a_bad_currency_is_one_line_naming_the_field(cli: Cli) -> None:
    line = cli("tenants", "create", "bad", "--currency", "XYZ").refused()
    assert line == "error: currency: 'XYZ' is not an ISO 4217 currency code (such as USD, EUR or JPY)"


def test_projects_create_and_list(cli: Cli) -> None:
    tenant = new_tenant(cli, "projects-co")
    created = cli("projects", "create", "research", "--tenant", tenant["tenant_id"], "-o", "json").json()
    assert (created["name"], created["tenant_id"]) == ("research", tenant["tenant_id"])
    # A tenant's admin creates in its own tenant without naming it.
    table = cli("projects", "create", "serving", api_key=tenant["admin_key"])
    assert table.code == 0 and "serving" in table.stdout

    listed = cli("projects", "list", "--tenant", tenant["tenant_id"], "-o", "json").json()
    assert [p["name"] for p in listed] == ["research", "serving"]
    assert created["project_id"] in cli("projects", "list", "--tenant", tenant["tenant_id"]).stdout
    assert cli("projects", "create", "x").refused() == (
        "error: tenant_id: the operator must name the tenant the project belongs to"
    )
    duplicate = cli("projects", "create", "research", api_key=tenant["admin_key"]).refused()
    assert "already has a project named 'research'" in duplicate


def test_quotas_set_and_show(cli: Cli) -> None:
    tenant = new_tenant(cli, "quota-co")
    project = cli("projects", "create", "main", "--tenant", tenant["tenant_id"], "-o", "json").json()
    project_id = project["project_id"]

    assert cli("quotas", "set", "A100=4", "--project", project_id, "-o", "json").json()["quotas"] == {
        "A100": 4
    }
    cli.save_connection(AIFACTORY_PROJECT=project_id)  # the default project, as `aifactory up` writes it
    assert cli("quotas", "set", "A100=6", "H100=0").code == 0
    shown = cli("quotas", "show", "-o", "json").json()
    assert shown == {
        "project_id": project_id,
        "tenant_id": tenant["tenant_id"],
        "quotas": {"A100": 6, "H100": 0},
    }
    table = cli("quotas", "show", "--project", project_id, api_key=tenant["admin_key"])
    assert table.code == 0 and "A100" in table.stdout and "6" in table.stdout


def test_bad_quotas_are_one_line_naming_what_is_wrong(cli: Cli, tmp_path: Path) -> None:
    tenant = new_tenant(cli, "bad-quota-co")
    project_id = cli("projects", "create", "main", "--tenant", tenant["tenant_id"], "-o", "json").json()[
        "project_id"
    ]
    assert (
        cli("quotas", "set", "A100=1", "--project", "prj_nope").refused()
        == "error: project prj_nope not found"
    )
    assert cli("quotas", "set", "B200=4", "--project", project_id).refused() == (
        "error: quotas.B200: no node in the fleet has 'B200' GPUs (the fleet has A100)"
    )
    assert cli("quotas", "set", "A100=-1", "--project", project_id).refused() == (
        "error: quotas.A100: must be 0 or more GPUs, not -1"
    )
    assert cli("quotas", "set", "A100", "--project", project_id).refused() == (
        "error: quotas: 'A100' is not MODEL=GPUS (such as A100=8)"
    )
    assert cli("quotas", "show").refused().startswith("error: no project: pass --project")
    assert cli("quotas", "set", "A100=1", "--project", project_id, api_key=tenant["admin_key"]).refused() == (
        "error: only the platform operator may do this"
    )


PRICE_BOOK_YAML = """\
# the example price book
currency: EUR
gpu_hour:
  A100: 2.50
per_1k_tokens: 0.02
per_request: 0.001
"""


def test_price_book_set_from_yaml_or_json_and_show(cli: Cli, tmp_path: Path) -> None:
    tenant = new_tenant(cli, "priced-co")
    yaml_file = tmp_path / "prices.yaml"
    yaml_file.write_text(PRICE_BOOK_YAML)
    table = cli("price-book", "set", str(yaml_file), "--tenant", tenant["tenant_id"])
    assert table.code == 0 and "gpu_hour.A100" in table.stdout and "2.50" in table.stdout

    shown = cli("price-book", "show", "--tenant", tenant["tenant_id"], "-o", "json").json()
    # Exactly as written: no price went through a binary float.
    assert (shown["currency"], shown["gpu_hour"], shown["per_request"]) == ("EUR", {"A100": "2.50"}, "0.001")

    json_file = tmp_path / "prices.json"
    json_file.write_text('{"gpu_hour": {"A100": 3.10}}')
    cli.save_connection(AIFACTORY_TENANT=tenant["tenant_id"])
    assert cli("price-book", "set", str(json_file), "-o", "json").json()["gpu_hour"] == {"A100": "3.10"}
    assert cli("price-book", "show", api_key=tenant["admin_key"]).stdout.count("3.10") == 1


def test_a_bad_price_book_is_one_line_naming_what_is_wrong(cli: Cli, tmp_path: Path) -> None:
    tenant_id = new_tenant(cli, "badly-priced-co")["tenant_id"]

    def refused(content: str | None) -> str:
        path = tmp_path / "book.yaml"
        if content is not None:
            path.write_text(content)
        return cli("price-book", "set", str(path), "--tenant", tenant_id).refused()

    assert refused(None) == f"error: {tmp_path / 'book.yaml'}: No such file or directory"
    assert refused("gpu_hour: {A100: [1,\n").startswith(
        f"error: {tmp_path / 'book.yaml'}: not valid YAML or JSON at line"
    )
    assert refused("- A100\n") == (
        f"error: {tmp_path / 'book.yaml'}: must hold a mapping of price book fields (currency, gpu_hour, "
        "per_1k_tokens, ...)"
    )
    assert refused("gpu_hours: {A100: 1}\n") == "error: gpu_hours: Extra inputs are not permitted"
    assert refused("currency: XYZ\n") == (
        "error: currency: 'XYZ' is not an ISO 4217 currency code (such as USD, EUR or JPY)"
    )
    assert refused("currency: USD\n") == "error: currency: USD differs from the tenant's currency EUR"
    assert cli("price-book", "show", "--tenant", tenant_id).refused() == (
        f"error: price book of tenant {tenant_id} not found"
    )


def test_budgets_set_and_show(cli: Cli) -> None:
    tenant = new_tenant(cli, "budget-co")
    project_id = cli("projects", "create", "main", "--tenant", tenant["tenant_id"], "-o", "json").json()[
        "project_id"
    ]
    budget = cli(
        "budgets", "set", "100", "--project", project_id, "--threshold", "50", "--hard-cap", "-o", "json"
    ).json()
    assert (budget["project_id"], budget["amount"], budget["currency"], budget["hard_cap"]) == (
        project_id,
        "100",
        "EUR",
        True,
    )
    assert cli("budgets", "set", "500", "--tenant", tenant["tenant_id"]).code == 0

    listing = cli("budgets", "show", "--tenant", tenant["tenant_id"], "-o", "json")
    assert listing.json()["tenant_id"] == tenant["tenant_id"]  # metering applies them shortly after
    assert cli("budgets", "show", api_key=tenant["admin_key"]).code == 0
    assert cli("budgets", "show").refused() == "error: query.tenant_id: the operator must name the tenant"
    assert cli("budgets", "set", "lots", "--project", project_id).refused().startswith("error: amount: ")


def test_keys_create_list_rotate_and_revoke(cli: Cli) -> None:
    tenant = new_tenant(cli, "keyed-co")
    other = new_tenant(cli, "other-keyed-co")
    table = cli("keys", "create", "ci", "--tenant", tenant["tenant_id"], "--ttl", "30d")
    assert table.code == 0 and "api_key" in table.stdout and "shown only this once" in table.stdout
    cli.save_connection(AIFACTORY_TENANT=tenant["tenant_id"])  # the default tenant, as `aifactory up` writes
    key = cli(
        "keys", "create", "dashboards", "--role", "viewer", "-o", "json", api_key=tenant["admin_key"]
    ).json()
    assert (key["role"], key["tenant_id"], key["expires_at"]) == ("viewer", tenant["tenant_id"], None)
    assert cli("projects", "list", "-o", "json", api_key=key["api_key"]).code == 0

    # A tenant admin lists its own tenant's keys only; no listing ever shows a secret.
    listed = cli("keys", "list", "-o", "json", api_key=tenant["admin_key"])
    assert sorted(k["name"] for k in listed.json()) == ["ci", "dashboards", "first admin"]
    assert {k["tenant_id"] for k in listed.json()} == {tenant["tenant_id"]}
    everything = cli("keys", "list", "-o", "json").stdout + cli("keys", "list").stdout
    for secret in (key["api_key"], tenant["admin_key"], other["admin_key"]):
        assert secret not in listed.stdout and secret not in everything
    assert key["key_id"] in cli("keys", "list", "--tenant", tenant["tenant_id"]).stdout

    rotated = cli("keys", "rotate", key["key_id"], "-o", "json", api_key=tenant["admin_key"]).json()
    assert rotated["key_id"] == key["key_id"] and rotated["api_key"] != key["api_key"]
    assert cli("projects", "list", api_key=key["api_key"]).refused() == "error: the API key is not known"
    assert cli("projects", "list", api_key=rotated["api_key"]).code == 0
    graced = cli("keys", "rotate", key["key_id"], "--grace", "5m", "-o", "json").json()
    assert graced["previous_secret_expires_at"] is not None
    assert cli("projects", "list", api_key=rotated["api_key"]).code == 0  # in its grace

    revoked = cli("keys", "revoke", key["key_id"], api_key=tenant["admin_key"])
    assert revoked.code == 0 and "revoked" in revoked.stdout
    assert cli("projects", "list", api_key=graced["api_key"]).refused() == "error: the API key was revoked"


def test_bad_key_commands_are_one_line_naming_what_is_wrong(cli: Cli) -> None:
    tenant = new_tenant(cli, "badly-keyed-co")
    other = new_tenant(cli, "elsewhere-co")
    other_key = cli("keys", "create", "theirs", "--tenant", other["tenant_id"], "-o", "json").json()
    tenant_id = tenant["tenant_id"]
    assert cli("keys", "create", "k", "--tenant", tenant_id, "--ttl", "soon").refused() == (
        "error: --ttl: 'soon' is not a duration (such as 3600, 90m, 12h or 30d)"
    )
    past = cli("keys", "create", "k", "--tenant", tenant_id, "--expires-at", "2001-01-01T00:00:00Z")
    assert past.refused().startswith("error: expires_at: must be in the future (now is ")
    assert (
        cli("keys", "create", "k", "--tenant", tenant_id, "--role", "owner")
        .refused()
        .startswith("error: role: ")
    )
    assert cli("keys", "create", "k").refused().startswith("error: no tenant: pass --tenant")
    # Another tenant's key reads as missing; a member manages no keys.
    assert cli("keys", "revoke", other_key["key_id"], api_key=tenant["admin_key"]).refused() == (
        f"error: key {other_key['key_id']} not found"
    )
    member = cli("keys", "create", "m", "--tenant", tenant_id, "-o", "json").json()["api_key"]
    assert (
        cli("keys", "list", api_key=member).refused()
        == "error: this needs the admin role; the key has member"
    )
    assert cli("keys", "rotate", other_key["key_id"], "--grace", "2d").refused() == (
        "error: grace_s: Input should be less than or equal to 86400"
    )

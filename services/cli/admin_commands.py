"""Administration over the gateway API: tenants, projects, quotas, price books and budgets.

Each command is one request through `respond`; a project or tenant left out comes from
AIFACTORY_PROJECT / AIFACTORY_TENANT (environment or connection.env), as `aifactory up` writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from services.cli.connection import ApiKey, GatewayUrl, Output, OutputFormat, fail, respond, setting
from services.cli.render import (
    BUDGET_COLUMNS,
    PROJECT_COLUMNS,
    TENANT_COLUMNS,
    price_book_table,
    quotas_table,
    record_table,
    rows_table,
)

tenants_app = typer.Typer(help="Tenants (operator): create, list.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects: create, list.", no_args_is_help=True)
quotas_app = typer.Typer(help="GPU quotas of a project: set (operator), show.", no_args_is_help=True)
price_book_app = typer.Typer(help="A tenant's price book: set (operator), show.", no_args_is_help=True)
budgets_app = typer.Typer(help="Budgets of a project or tenant: set, show.", no_args_is_help=True)

ProjectOption = Annotated[
    str | None, typer.Option("--project", help="Project id (default: AIFACTORY_PROJECT).")
]
TenantOption = Annotated[str | None, typer.Option("--tenant", help="Tenant id (default: AIFACTORY_TENANT).")]
TenantFilter = Annotated[
    str | None, typer.Option("--tenant", help="Operator: the tenant (a tenant key: its own).")
]


def _chosen(value: str | None, setting_name: str, what: str, listing: str) -> str:
    """The option's value, else the setting's; without either the command cannot go on."""
    chosen = value or setting(setting_name)
    if not chosen:
        fail(f"no {what}: pass --{what} {what[:3]}_... or set {setting_name} (`{listing}` shows them)")
    return chosen


def default_project(project: str | None) -> str:
    return _chosen(project, "AIFACTORY_PROJECT", "project", "aifactory projects list")


def default_tenant(tenant: str | None) -> str:
    return _chosen(tenant, "AIFACTORY_TENANT", "tenant", "aifactory tenants list")


# Tenants
@tenants_app.command("create")
def create_tenant(
    name: str,
    currency: Annotated[str, typer.Option(help="ISO 4217 code of every price and invoice.")] = "USD",
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Create a tenant and its first admin key (shown only this once)."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.create_tenant(name, currency),
        lambda tenant: record_table(
            f"tenant {tenant['name']}", tenant, caption="keep admin_key: it is shown only this once"
        ),
    )


@tenants_app.command("list")
def list_tenants(
    gateway: GatewayUrl = None, api_key: ApiKey = None, output: OutputFormat = Output.TABLE
) -> None:
    """Every tenant (operator); a tenant key sees its own."""
    respond(
        gateway,
        api_key,
        output,
        lambda c: c.tenants(),
        lambda items: rows_table("tenants", TENANT_COLUMNS, items),
    )


# Projects
@projects_app.command("create")
def create_project(
    name: str,
    tenant: Annotated[str | None, typer.Option(help="The tenant (the operator must name it).")] = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Create a project in a tenant."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.create_project(name, tenant),
        lambda project: record_table(f"project {project['name']}", project),
    )


@projects_app.command("list")
def list_projects(
    tenant: TenantFilter = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Projects of every tenant, or of one."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.projects(tenant),
        lambda items: rows_table("projects", PROJECT_COLUMNS, items),
    )


# Quotas
@quotas_app.command("set")
def set_quotas(
    quotas: Annotated[list[str], typer.Argument(help="MODEL=GPUS pairs, e.g. A100=8 H100=0.")],
    project: ProjectOption = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Set how many GPUs of each model the project may use at once (operator)."""
    parsed = parse_quotas(quotas)
    project_id = default_project(project)
    respond(gateway, api_key, output, lambda client: client.set_quotas(project_id, parsed), quotas_table)


def parse_quotas(pairs: list[str]) -> dict[str, int]:
    parsed: dict[str, int] = {}
    for pair in pairs:
        model, _, gpus = pair.partition("=")
        if not model or not gpus.strip().lstrip("-").isdigit():
            fail(f"quotas: {pair!r} is not MODEL=GPUS (such as A100=8)")
        parsed[model.strip()] = int(gpus)
    return parsed


@quotas_app.command("show")
def show_quotas(
    project: ProjectOption = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """The project's GPUs per model, as last set."""
    project_id = default_project(project)
    respond(gateway, api_key, output, lambda client: client.quotas(project_id), quotas_table)


# Price books
@price_book_app.command("set")
def set_price_book(
    file: Annotated[Path, typer.Argument(help="The price book, YAML or JSON (the API's fields).")],
    tenant: TenantOption = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Set a new version of the tenant's prices from a file (operator)."""
    book = read_price_book(file)
    tenant_id = default_tenant(tenant)
    respond(gateway, api_key, output, lambda client: client.set_price_book(tenant_id, book), price_book_table)


class _ExactNumbers(yaml.SafeLoader):
    """Keeps every number's text ("2.50"), so no price passes through a binary float."""


_ExactNumbers.add_constructor("tag:yaml.org,2002:float", lambda loader, node: loader.construct_scalar(node))


def read_price_book(file: Path) -> dict[str, Any]:
    """The file's mapping (YAML, so JSON too); what it holds is the gateway's to check."""
    try:
        book = yaml.load(file.read_text(), Loader=_ExactNumbers)  # noqa: S506 (a safe loader)
    except OSError as error:
        fail(f"{file}: {error.strerror or error}")
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        fail(f"{file}: not valid YAML or JSON{where}: {getattr(error, 'problem', None) or error}")
    if not isinstance(book, dict):
        fail(f"{file}: must hold a mapping of price book fields (currency, gpu_hour, per_1k_tokens, ...)")
    return book


@price_book_app.command("show")
def show_price_book(
    tenant: TenantOption = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """The version of the tenant's price book in force now."""
    tenant_id = default_tenant(tenant)
    respond(gateway, api_key, output, lambda client: client.price_book(tenant_id), price_book_table)


# Budgets
@budgets_app.command("set")
def set_budget(
    amount: Annotated[str, typer.Argument(help="Budget per calendar month, in the tenant's currency.")],
    project: Annotated[
        str | None, typer.Option(help="A project's budget (default: AIFACTORY_PROJECT).")
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="The tenant's whole budget instead.")] = None,
    threshold: Annotated[
        list[str] | None, typer.Option(help="Percent of the amount that raises an alert (repeatable).")
    ] = None,
    hard_cap: Annotated[bool, typer.Option(help="Reaching the amount stops new work.")] = False,
    on_exhaustion: Annotated[
        str, typer.Option(help="continue or stop running work once exhausted.")
    ] = "continue",
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Set the budget of a project (or, with --tenant, of the tenant)."""
    # Numbers go as written: the gateway checks them and names a bad one.
    body: dict[str, Any] = {"amount": amount, "hard_cap": hard_cap, "on_exhaustion": on_exhaustion}
    if threshold:
        body["thresholds_percent"] = threshold
    scope, scope_id = ("tenants", tenant) if tenant else ("projects", default_project(project))
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.set_budget(scope, scope_id, body),
        lambda budget: record_table(f"budget {budget['budget_id']}", budget),
    )


@budgets_app.command("show")
def show_budgets(
    project: Annotated[str | None, typer.Option(help="Only this project's budget.")] = None,
    tenant: TenantFilter = None,
    period: Annotated[str | None, typer.Option(help="YYYY-MM (default: this month).")] = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Budgets with the period's spend and forecast: one project's, or every one of the tenant."""
    if project:
        respond(
            gateway,
            api_key,
            output,
            lambda client: client.budget("projects", project),
            lambda budget: record_table(f"budget {budget['budget_id']}", budget),
        )
        return
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.budgets(tenant, period),
        lambda listing: rows_table(
            f"budgets of {listing['tenant_id']} · {listing['period']}", BUDGET_COLUMNS, listing["items"]
        ),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(tenants_app, name="tenants")
    app.add_typer(projects_app, name="projects")
    app.add_typer(quotas_app, name="quotas")
    app.add_typer(price_book_app, name="price-book")
    app.add_typer(budgets_app, name="budgets")

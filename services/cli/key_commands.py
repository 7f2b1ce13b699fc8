"""API keys over the gateway API: `aifactory keys list|create|revoke|rotate`.

The operator manages every tenant's keys, a tenant's admin its own tenant's. A key's secret is printed
only by create and rotate, once; list shows when each key expires, was last used and was revoked.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from services.cli.admin_commands import TenantFilter, TenantOption, default_tenant
from services.cli.connection import ApiKey, GatewayUrl, Output, OutputFormat, fail, respond
from services.cli.render import record_table, rows_table

keys_app = typer.Typer(help="API keys: list, create, revoke, rotate.", no_args_is_help=True)

KEY_COLUMNS = {
    "key": "key_id",
    "tenant": "tenant_id",
    "name": "name",
    "role": "role",
    "created": "created_at",
    "expires": "expires_at",
    "last used": "last_used_at",
    "revoked": "revoked_at",
}
SHOWN_ONCE = "keep api_key: it is shown only this once"
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"(\d+)\s*([smhd]?)")


def parse_duration(option: str, text: str) -> int:
    """Seconds from "3600", "90m", "12h" or "30d"; a bad one ends the command naming the option."""
    matched = _DURATION.fullmatch(text.strip().lower())
    if matched is None:
        fail(f"{option}: {text!r} is not a duration (such as 3600, 90m, 12h or 30d)")
    return int(matched[1]) * _UNITS[matched[2]]


@keys_app.command("list")
def list_keys(
    tenant: TenantFilter = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Keys of every tenant (operator), or of one; a tenant admin sees its own. Never their secrets."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.keys(tenant),
        lambda items: rows_table("API keys", KEY_COLUMNS, items),
    )


@keys_app.command("create")
def create_key(
    name: str,
    role: Annotated[str, typer.Option(help="admin, member or viewer.")] = "member",
    tenant: TenantOption = None,
    expires_at: Annotated[
        str | None,
        typer.Option(help="When it stops working: ISO 8601 with its offset (2026-07-01T00:00:00Z)."),
    ] = None,
    ttl: Annotated[str | None, typer.Option(help="Or how long it works: 3600, 90m, 12h, 30d.")] = None,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Create a key with a role in a tenant (its secret is shown only this once)."""
    ttl_s = parse_duration("--ttl", ttl) if ttl is not None else None
    tenant_id = default_tenant(tenant)
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.create_key(tenant_id, role, name, expires_at, ttl_s),
        lambda key: record_table(f"key {key['name']}", key, caption=SHOWN_ONCE),
    )


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...), as `aifactory keys list` shows.")],
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Revoke a key at once: its next request is refused."""
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.revoke_key(key_id),
        lambda key: record_table(f"key {key['name']} revoked", key),
    )


@keys_app.command("rotate")
def rotate_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (key_...), as `aifactory keys list` shows.")],
    grace: Annotated[
        str, typer.Option(help="How long the old secret keeps working: 0 (default), 300, 15m, 1h.")
    ] = "0",
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
    output: OutputFormat = Output.TABLE,
) -> None:
    """Give a key a new secret (shown only this once); the old one stops at once or after --grace."""
    grace_s = parse_duration("--grace", grace)
    respond(
        gateway,
        api_key,
        output,
        lambda client: client.rotate_key(key_id, grace_s),
        lambda key: record_table(f"key {key['name']} rotated", key, caption=SHOWN_ONCE),
    )


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")

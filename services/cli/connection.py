"""What every client command shares: where the gateway is and which key to use, how to print an answer
(a rich table, or the API's JSON for scripts), and how a refusal becomes one line on stderr.

The URL and key come from the command line, then the environment (AIFACTORY_GATEWAY_URL,
AIFACTORY_API_KEY), then .aifactory/connection.env as `aifactory up` writes it (AIFACTORY_CONNECTION_FILE
names another file).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console, RenderableType

from shared.client.gateway import GatewayClient, GatewayError, GatewayUnreachable
from shared.infra.first_start import read_env_file

DEFAULT_GATEWAY_URL = "http://127.0.0.1:8000"
DEFAULT_CONNECTION_FILE = ".aifactory/connection.env"

console = Console()
Answer = TypeVar("Answer")


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


GatewayUrl = Annotated[
    str | None, typer.Option("--gateway", envvar="AIFACTORY_GATEWAY_URL", help="Gateway URL.")
]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="AIFACTORY_API_KEY", help="API key.")]
OutputFormat = Annotated[
    Output, typer.Option("--output", "-o", help="table for people, json (the API's data) for scripts.")
]


def saved_connection() -> dict[str, str]:
    """NAME=value lines of the connection file (none when it is missing)."""
    return read_env_file(Path(os.environ.get("AIFACTORY_CONNECTION_FILE", DEFAULT_CONNECTION_FILE)))


def setting(name: str) -> str | None:
    """The environment's value, else the connection file's."""
    return os.environ.get(name) or saved_connection().get(name) or None


def open_client(gateway: str | None, api_key: str | None) -> GatewayClient:
    url = gateway or setting("AIFACTORY_GATEWAY_URL") or DEFAULT_GATEWAY_URL
    key = api_key or setting("AIFACTORY_API_KEY")
    if not key:
        fail(
            "no API key: pass --api-key, set AIFACTORY_API_KEY, or start the factory with `aifactory up` "
            f"(it writes {DEFAULT_CONNECTION_FILE})"
        )
    return GatewayClient(url, key)


def problem_line(error: GatewayError) -> str:
    """An RFC 9457 problem as one line: each field it names with what is wrong with it, else its detail."""
    problem = error.problem
    fields = [
        f"{_where(item)}: {item.get('message', 'is invalid')}"
        for item in problem.get("errors") or []
        if isinstance(item, dict)
    ]
    if fields:
        return "; ".join(fields)
    said = str(problem.get("detail") or problem.get("title") or "").strip()
    return " ".join(said.split()) or f"the gateway answered {error.status}"


def _where(item: dict[str, Any]) -> str:
    # Body fields by name; a query parameter or header says where it is (query.from).
    field = str(item.get("field", "?"))
    location = item.get("in", "body")
    return field if location == "body" else f"{location}.{field}"


def fail(message: str) -> NoReturn:
    """One line on stderr and exit status 1: what a script checks, what a person reads."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def call(gateway: str | None, api_key: str | None, request: Callable[[GatewayClient], Answer]) -> Answer:
    """The request's answer; a problem or an unreachable gateway ends the command with one line."""
    client = open_client(gateway, api_key)
    try:
        return request(client)
    except GatewayError as error:
        fail(problem_line(error))
    except GatewayUnreachable as error:
        fail(str(error))
    finally:
        client.close()


def show(output: Output, data: Any, table: Callable[[Any], RenderableType]) -> None:
    """The API's data as JSON on stdout, or its table."""
    if output is Output.JSON:
        print(json.dumps(data, indent=2))
    else:
        console.print(table(data))


def respond(
    gateway: str | None,
    api_key: str | None,
    output: Output,
    request: Callable[[GatewayClient], Answer],
    table: Callable[[Answer], RenderableType],
) -> Answer:
    """Call the gateway, then print the answer as `output` asks: the one path of every client command."""
    answer = call(gateway, api_key, request)
    show(output, answer, table)
    return answer

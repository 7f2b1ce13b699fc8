"""A factory ready to use on its first start: a default tenant, project, quota and example price book.

`aifactory up` (embedded mode, on a database it has just created) makes them through the gateway's API,
as an operator would, and keeps their ids and the tenant's key in <data dir>/defaults.env. Every start
copies that file into connection.env, so a later start (which creates nothing) keeps the defaults: the
tenant's key is shown only once, and the gateway keeps only its hash.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.client.gateway import GatewayClient

DEFAULTS_FILE = "defaults.env"
DEFAULT_NAME = "default"
DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class FirstStartDefaults:
    tenant_id: str
    project_id: str
    tenant_api_key: str

    def env(self) -> dict[str, str]:
        """The connection.env entries; AIFACTORY_PROJECT is what `aifactory submit` defaults --project to."""
        return {
            "AIFACTORY_TENANT": self.tenant_id,
            "AIFACTORY_PROJECT": self.project_id,
            "AIFACTORY_TENANT_API_KEY": self.tenant_api_key,
        }


def example_price_book(gpu_model: str, currency: str = DEFAULT_CURRENCY) -> dict[str, Any]:
    """Round example prices, large enough that every meter shows a non-zero line on a short test run."""
    return {
        "currency": currency,
        "gpu_hour": {gpu_model: "2.50"},
        "per_1k_tokens": "0.10",
        "per_request": "0.01",
        "per_kwh": "0.20",
    }


def create_defaults(client: GatewayClient, *, gpu_model: str, gpus: int) -> FirstStartDefaults:
    """One tenant, its project with a quota on every simulated GPU, and the example price book."""
    tenant = client.create_tenant(DEFAULT_NAME, DEFAULT_CURRENCY)
    client.set_price_book(tenant["tenant_id"], example_price_book(gpu_model))
    project = client.create_project(DEFAULT_NAME, tenant_id=tenant["tenant_id"])
    client.set_quotas(project["project_id"], {gpu_model: gpus})
    return FirstStartDefaults(tenant["tenant_id"], project["project_id"], tenant["admin_key"])


def wait_for_nodes(client: GatewayClient, count: int, timeout_s: float = 30.0) -> None:
    """Until `count` nodes are ready, so a job submitted right after `up` is placed at once."""
    deadline = time.monotonic() + timeout_s
    while sum(node["state"] == "ready" for node in client.nodes()) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} simulated nodes were not ready within {timeout_s:.0f}s")
        time.sleep(0.2)


def save_defaults(data_dir: Path, defaults: FirstStartDefaults) -> None:
    path = data_dir / DEFAULTS_FILE
    write_env_file(path, defaults.env())


def load_defaults(data_dir: Path) -> dict[str, str]:
    """The saved defaults' entries (none when the factory was started without them)."""
    return read_env_file(data_dir / DEFAULTS_FILE)


def write_env_file(path: Path, entries: dict[str, str]) -> None:
    """NAME=value lines, owner-only: these files hold keys, so they are never readable by others, not
    even between creating and restricting them."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write("".join(f"{name}={value}\n" for name, value in entries.items()))
    path.chmod(0o600)  # a file an older release left keeps its mode through O_TRUNC


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines (connection.env, defaults.env); a missing file has none."""
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}

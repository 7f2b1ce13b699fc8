"""A factory ready to use: `aifactory up`'s first start creates a default tenant, project, quota and price
book once, and connection.env names them, on every start after it too."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.client.gateway import GatewayClient
from shared.infra.first_start import read_env_file
from shared.infra.launcher import Factory, FactoryConfig, pick_ports
from tests.e2e.conftest import wait_until

AGENTS, GPUS_PER_AGENT = 2, 2


def start(data_dir: Path, *, defaults: bool = True) -> Factory:
    """The factory as `aifactory up` starts it (small, on free ports)."""
    config = FactoryConfig(
        data_dir=data_dir,
        agents=AGENTS,
        gpus_per_agent=GPUS_PER_AGENT,
        heartbeat_s=0.5,
        sample_s=1.0,
        first_start_defaults=defaults,
    )
    return Factory(pick_ports(config)).start()


def get(factory: Factory, path: str) -> Any:
    response = httpx.get(
        factory.gateway_url + path, headers={"Authorization": f"Bearer {factory.admin_key}"}, timeout=10
    )
    response.raise_for_status()
    return response.json()


def connection(factory: Factory) -> dict[str, str]:
    return read_env_file(factory.data_dir / "connection.env")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("first-start"))


@pytest.fixture(scope="module")
def first(data_dir: Path) -> Iterator[Factory]:
    factory = start(data_dir)
    yield factory
    factory.stop()


def test_the_first_start_creates_one_default_tenant_project_quota_and_price_book(first: Factory) -> None:
    tenants = get(first, "/v1/tenants")["items"]
    projects = get(first, "/v1/projects")["items"]
    assert [t["name"] for t in tenants] == ["default"]
    assert [p["name"] for p in projects] == ["default"]
    tenant_id, project_id = tenants[0]["tenant_id"], projects[0]["project_id"]
    assert get(first, f"/v1/projects/{project_id}/quotas")["quotas"] == {"A100": AGENTS * GPUS_PER_AGENT}
    price_book = get(first, f"/v1/tenants/{tenant_id}/price-book")
    assert price_book["currency"] == "USD" and set(price_book["gpu_hour"]) == {"A100"}

    saved = connection(first)
    assert saved["AIFACTORY_TENANT"] == tenant_id
    assert saved["AIFACTORY_PROJECT"] == project_id
    assert saved["AIFACTORY_TENANT_API_KEY"].startswith("afk_")
    # What connection.env said before stays: client commands read these names.
    assert saved["AIFACTORY_GATEWAY_URL"] == first.gateway_url
    assert saved["AIFACTORY_API_KEY"] == first.admin_key
    assert saved["AIFACTORY_INGEST_TOKEN"] == first.ingest_token


@pytest.mark.parametrize("key", ["AIFACTORY_API_KEY", "AIFACTORY_TENANT_API_KEY"])
def test_a_job_submitted_with_the_written_defaults_runs(first: Factory, key: str) -> None:
    saved = connection(first)
    client = GatewayClient(saved["AIFACTORY_GATEWAY_URL"], saved[key])
    spec = {"name": "train", "command": [sys.executable, "-c", "print('trained')"]}
    job = client.submit(saved["AIFACTORY_PROJECT"], spec)
    assert job["tenant_id"] == saved["AIFACTORY_TENANT"]
    wait_until(lambda: client.job(job["job_id"])["state"] == "succeeded", "the job to succeed")


def test_a_later_start_creates_nothing_and_keeps_the_defaults(first: Factory, data_dir: Path) -> None:
    before = connection(first)
    first.stop()
    again = start(data_dir)
    try:
        assert len(get(again, "/v1/tenants")["items"]) == 1
        assert len(get(again, "/v1/projects")["items"]) == 1
        after = connection(again)
        for name in ("AIFACTORY_TENANT", "AIFACTORY_PROJECT", "AIFACTORY_TENANT_API_KEY"):
            assert after[name] == before[name]
        tenant = GatewayClient(again.gateway_url, after["AIFACTORY_TENANT_API_KEY"])
        assert tenant.jobs(project_id=after["AIFACTORY_PROJECT"])  # the key still works
    finally:
        again.stop()


def test_no_defaults_creates_nothing(tmp_path: Path) -> None:
    factory = start(tmp_path, defaults=False)
    try:
        assert get(factory, "/v1/tenants")["items"] == []
        assert get(factory, "/v1/projects")["items"] == []
        saved = connection(factory)
        assert "AIFACTORY_PROJECT" not in saved and "AIFACTORY_TENANT" not in saved
        assert saved["AIFACTORY_API_KEY"] == factory.admin_key
    finally:
        factory.stop()

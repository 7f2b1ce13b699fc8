"""Each process the launcher starts gets only the secrets its service needs: an agent, whose workloads are
tenants' code, holds none, even when the launcher's own environment has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.infra.launcher import Factory, FactoryConfig

SECRETS = ("AIFACTORY_ADMIN_KEY", "AIFACTORY_INGEST_TOKEN", "AIFACTORY_DATABASE_URL")


@pytest.fixture
def factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Factory:
    monkeypatch.setenv("AIFACTORY_ADMIN_KEY", "operator-key-from-the-shell-0123456789")
    monkeypatch.setenv("AIFACTORY_INGEST_TOKEN", "ingest-token-from-the-shell-0123456789")
    monkeypatch.setenv("AIFACTORY_DATABASE_URL", "postgresql://postgres:secret@db/postgres")
    monkeypatch.setenv("AIFACTORY_SCHEDULER_QUEUEING", "drf")  # settings that are no secret pass through
    factory = Factory(
        FactoryConfig(data_dir=tmp_path, nats_url="nats://n:4222", database_url="postgresql://x")
    )
    factory.nats_url, factory.database_url = "nats://n:4222", "postgresql://x"
    return factory


def test_an_agent_gets_no_secret(factory: Factory) -> None:
    env = factory.environment_of("agent")
    assert [name for name in SECRETS if name in env] == []
    assert not any("from-the-shell" in value or "secret@" in value for value in env.values())
    assert env["AIFACTORY_NATS_URL"] == "nats://n:4222"
    assert env["AIFACTORY_SCHEDULER_QUEUEING"] == "drf"


def test_each_service_gets_only_its_own(factory: Factory) -> None:
    held = {service: {n for n in SECRETS if n in factory.environment_of(service)} for service in
            ("gateway", "scheduler", "ingest", "metering")}  # fmt: skip
    assert held == {
        "gateway": {"AIFACTORY_ADMIN_KEY", "AIFACTORY_DATABASE_URL"},
        "scheduler": {"AIFACTORY_DATABASE_URL"},
        "ingest": {"AIFACTORY_INGEST_TOKEN", "AIFACTORY_DATABASE_URL"},
        "metering": {"AIFACTORY_DATABASE_URL"},
    }
    assert factory.environment_of("gateway")["AIFACTORY_DATABASE_URL"] == "postgresql://x"

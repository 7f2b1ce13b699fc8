"""The launcher makes one metering API key per factory (or takes AIFACTORY_METERING_API_KEY from its own
environment) and gives it to the gateway and metering only: the two ends of the signed internal API."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.contracts.service_auth import service_key_problem
from shared.infra.launcher import SECRET_VARIABLES, Factory, FactoryConfig

VARIABLE = "AIFACTORY_METERING_API_KEY"


def factory_at(tmp_path: Path) -> Factory:
    factory = Factory(
        FactoryConfig(data_dir=tmp_path, nats_url="nats://n:4222", database_url="postgresql://x")
    )
    factory.nats_url, factory.database_url = "nats://n:4222", "postgresql://x"
    return factory


def test_only_the_gateway_and_metering_hold_one_generated_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    factory = factory_at(tmp_path)
    held = {service: factory.environment_of(service).get(VARIABLE) for service in
            ("gateway", "metering", "scheduler", "ingest", "agent")}  # fmt: skip

    assert held["gateway"] == held["metering"] == factory.metering_api_key
    assert service_key_problem(factory.metering_api_key) is None
    assert (held["scheduler"], held["ingest"], held["agent"]) == (None, None, None)
    assert VARIABLE in SECRET_VARIABLES
    assert factory_at(tmp_path).metering_api_key != factory.metering_api_key  # one per factory


def test_the_launchers_own_key_is_passed_on_not_inherited_by_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VARIABLE, "metering-api-key-from-the-shell-0123456789")
    factory = factory_at(tmp_path)

    assert factory.environment_of("metering")[VARIABLE] == "metering-api-key-from-the-shell-0123456789"
    assert VARIABLE not in factory.environment_of("agent")
    assert VARIABLE not in factory.environment_of("ingest")


def test_the_connection_file_does_not_hold_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    factory = factory_at(tmp_path)
    factory._write_connection_file()
    text = (tmp_path / "connection.env").read_text()
    assert VARIABLE not in text and factory.metering_api_key not in text

"""docker-compose.yml stays runnable: every service's command names an entry point that exists."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
BUILT = {name: spec for name, spec in SERVICES.items() if "build" in spec}


def test_every_platform_service_and_two_agents_are_in_the_compose_file() -> None:
    assert {"nats", "postgres", "gateway", "ingest", "scheduler", "metering"} <= set(SERVICES)
    agents = [name for name, spec in BUILT.items() if "services.agent.main" in spec["command"]]
    assert len(agents) >= 2


def test_postgres_has_a_healthcheck_and_nats_runs_jetstream_with_a_volume() -> None:
    assert "healthcheck" in SERVICES["postgres"]
    config = (ROOT / "deploy/nats/nats.conf").read_text()
    assert "jetstream" in config
    assert any(volume.endswith(":/data") for volume in SERVICES["nats"]["volumes"])


@pytest.mark.parametrize("name", sorted(BUILT))
def test_the_command_names_an_existing_entry_point(name: str) -> None:
    command = BUILT[name]["command"]
    assert command[:2] == ["python", "-m"], f"{name}: expected `python -m <module>`, got {command}"
    module_name = command[2]
    assert importlib.util.find_spec(module_name) is not None, f"{name}: no module {module_name}"
    module = importlib.import_module(module_name)
    assert callable(getattr(module, "main", None)), f"{name}: {module_name} has no main()"

"""docker-compose.yml and deploy/k8s give the metering API key (which signs the gateway's reads of
metering) to the gateway and metering only, from the operator's own secret: no value ships, no default."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
VARIABLE = "AIFACTORY_METERING_API_KEY"


def test_compose_requires_the_key_for_the_gateway_and_metering_only() -> None:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    holders = {name for name, service in services.items() if VARIABLE in (service.get("environment") or {})}

    assert holders == {"gateway", "metering"}
    for name in holders:
        value = services[name]["environment"][VARIABLE]
        assert re.fullmatch(rf"\$\{{{VARIABLE}:\?[^}}]+\}}", value), (name, value)  # required, no default


def test_k8s_takes_the_key_from_its_own_secret_for_the_gateway_and_metering_only() -> None:
    documents = [d for d in yaml.safe_load_all((ROOT / "deploy/k8s/aifactory.yaml").read_text()) if d]
    holders = {}
    for document in documents:
        if document["kind"] not in ("Deployment", "DaemonSet"):
            continue
        (container,) = document["spec"]["template"]["spec"]["containers"]
        for item in container.get("env", []):
            if item["name"] == VARIABLE:
                assert "value" not in item, "the key must come from a Secret"
                holders[document["metadata"]["name"]] = item["valueFrom"]["secretKeyRef"]
    assert set(holders) == {"gateway", "metering"}
    assert (
        holders["gateway"] == holders["metering"] == {"name": "aifactory-metering-api-key", "key": "api_key"}
    )
    # Not in the Secret that every service reads whole (envFrom), nor anywhere as a literal.
    assert not [d for d in documents if d["kind"] == "Secret"]

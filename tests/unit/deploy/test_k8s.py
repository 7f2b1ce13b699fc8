"""deploy/k8s/aifactory.yaml stays coherent: each workload runs an entry point that exists, and the
gateway reaches metering's internal API through a Service that selects metering's pods on the port they
listen on, with only the gateway let in."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from services.gateway.settings import GatewaySettings
from services.metering.settings import MeteringSettings

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS: list[dict[str, Any]] = [
    document for document in yaml.safe_load_all((ROOT / "deploy/k8s/aifactory.yaml").read_text()) if document
]
NAMESPACE = "aifactory"


def resource(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in DOCUMENTS if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(workload: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = resource("Deployment", workload)["spec"]["template"]["spec"][
        "containers"
    ]
    assert len(containers) == 1
    return containers[0]


def env_of(workload: str) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(workload).get("env", []) if "value" in item}


@pytest.fixture
def pod_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings as the pod's environment makes them (read as the service reads them)."""

    def settings(kind: type[Any], workload: str) -> Any:
        for name, value in env_of(workload).items():
            monkeypatch.setenv(name, value)
        return kind()

    return settings


def test_every_workload_runs_an_existing_entry_point() -> None:
    workloads = [d for d in DOCUMENTS if d["kind"] in ("Deployment", "DaemonSet")]
    assert {d["metadata"]["name"] for d in workloads} == {
        "gateway",
        "ingest",
        "scheduler",
        "metering",
        "agent",
    }
    for workload in workloads:
        command = " ".join(workload["spec"]["template"]["spec"]["containers"][0]["command"])
        module = command.split("python -m ", 1)[1].split()[0]
        assert importlib.util.find_spec(module) is not None, f"{workload['metadata']['name']}: no {module}"
        assert workload["metadata"]["namespace"] == NAMESPACE


def test_the_metering_service_selects_metering_pods_on_the_port_their_api_listens_on(pod_env: Any) -> None:
    service = resource("Service", "metering")
    deployment = resource("Deployment", "metering")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    settings = pod_env(MeteringSettings, "metering")
    (port,) = service["spec"]["ports"]
    named_ports = {p["name"]: p["containerPort"] for p in container("metering")["ports"]}

    assert service["spec"]["selector"].items() <= labels.items()
    assert settings.http_host == "0.0.0.0"  # the pod's address, not loopback: the Service must reach it
    assert named_ports[port["targetPort"]] == settings.http_port == port["port"]
    assert container("metering")["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": settings.http_port,
    }


def test_the_gateway_reads_metering_through_that_service(pod_env: Any) -> None:
    service = resource("Service", "metering")
    settings = pod_env(GatewaySettings, "gateway")
    url = urlsplit(settings.metering_url)

    assert url.scheme == "http"
    assert url.hostname == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert url.port == service["spec"]["ports"][0]["port"]


def test_only_the_gateway_may_reach_meterings_internal_api(pod_env: Any) -> None:
    policy = resource("NetworkPolicy", "metering-internal-api")["spec"]
    metering_labels = resource("Deployment", "metering")["spec"]["template"]["metadata"]["labels"]
    gateway_labels = resource("Deployment", "gateway")["spec"]["template"]["metadata"]["labels"]
    (rule,) = policy["ingress"]

    assert policy["podSelector"]["matchLabels"].items() <= metering_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    assert [peer["podSelector"]["matchLabels"] for peer in rule["from"]] == [gateway_labels]
    assert rule["ports"] == [{"protocol": "TCP", "port": pod_env(MeteringSettings, "metering").http_port}]


def test_the_chargeback_rates_are_valid_settings(pod_env: Any) -> None:
    env = env_of("metering")
    settings = pod_env(MeteringSettings, "metering")

    assert set(settings.chargeback_rates) == set(json.loads(env["AIFACTORY_CHARGEBACK_RATES"]))
    assert all(rate > 0 for rate in settings.chargeback_rates.values())

"""The operator's key at start-up: from AIFACTORY_ADMIN_KEY or the file AIFACTORY_ADMIN_KEY_FILE names (not
both); a placeholder or a short key stops the gateway with a message that never repeats the key. Nor do
docker-compose.yml and deploy/ ship a usable key, and compose publishes its ports on 127.0.0.1 only."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway import main as gateway_main
from services.gateway.domain.auth import operator_key_problem
from services.gateway.settings import AdminKeyRefused, GatewaySettings
from shared.contracts.secret_strength import PLACEHOLDERS as PLACEHOLDER_KEYS

ROOT = Path(__file__).resolve().parents[3]
GOOD_KEY = secrets.token_urlsafe(24)  # what the launcher generates: 32 characters


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIFACTORY_ADMIN_KEY", raising=False)
    monkeypatch.delenv("AIFACTORY_ADMIN_KEY_FILE", raising=False)


def refusal(**settings: Any) -> str:
    with pytest.raises(AdminKeyRefused) as caught:
        GatewaySettings(**settings).operator_key()
    return str(caught.value)


@pytest.mark.parametrize(
    "key", ["change-me-operator-key", "change-me-ingest-token", "CHANGE-ME-please-0123456789"]
)
def test_a_placeholder_key_is_refused(key: str) -> None:
    message = refusal(admin_key=key)
    assert message.startswith("the operator's key from AIFACTORY_ADMIN_KEY is a placeholder")
    assert "openssl rand -hex 32" in message and key not in message


@pytest.mark.parametrize("key", ["operator-secret", "x" * 23])
def test_a_key_shorter_than_24_characters_is_refused(key: str) -> None:
    message = refusal(admin_key=key)
    assert message == (
        f"the operator's key from AIFACTORY_ADMIN_KEY has {len(key)} characters, fewer than 24; "
        "generate one with: openssl rand -hex 32"
    )


def test_a_random_key_of_24_characters_or_more_is_taken_and_none_leaves_operator_actions_closed() -> None:
    assert GatewaySettings(admin_key=GOOD_KEY).operator_key() == GOOD_KEY
    assert GatewaySettings(admin_key="y7" * 12).operator_key() == "y7" * 12
    assert GatewaySettings().operator_key() == ""
    assert all(operator_key_problem(key) for key in PLACEHOLDER_KEYS)


def test_the_environment_variable_is_read_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_ADMIN_KEY", GOOD_KEY)
    settings = GatewaySettings()
    assert settings.operator_key() == GOOD_KEY
    assert GOOD_KEY not in repr(settings) and GOOD_KEY not in str(settings.model_dump())


def test_the_key_file_is_read_without_its_newline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "admin_key"
    key_file.write_text(f"{GOOD_KEY}\n")
    monkeypatch.setenv("AIFACTORY_ADMIN_KEY_FILE", str(key_file))
    assert GatewaySettings().operator_key() == GOOD_KEY


def test_a_bad_key_file_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "admin_key"
    missing = refusal(admin_key_file=key_file)
    assert missing == f"AIFACTORY_ADMIN_KEY_FILE ({key_file}) cannot be read: No such file or directory"
    key_file.write_text(" \n")
    assert refusal(admin_key_file=key_file) == f"AIFACTORY_ADMIN_KEY_FILE ({key_file}) is empty"
    key_file.write_text("change-me-operator-key\n")
    assert refusal(admin_key_file=key_file).startswith(
        f"the operator's key from AIFACTORY_ADMIN_KEY_FILE ({key_file}) is a placeholder"
    )
    key_file.write_text("short\n")
    assert "has 5 characters, fewer than 24" in refusal(admin_key_file=key_file)


def test_the_variable_and_the_file_together_are_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "admin_key"
    key_file.write_text(GOOD_KEY)
    assert refusal(admin_key=GOOD_KEY, admin_key_file=key_file) == (
        "AIFACTORY_ADMIN_KEY and AIFACTORY_ADMIN_KEY_FILE are both set: keep one (the file, say)"
    )


def test_the_gateway_does_not_start_with_the_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_ADMIN_KEY", "change-me-operator-key")
    started: list[str] = []
    monkeypatch.setattr(gateway_main, "run_http_service", lambda *args: started.append("started"))
    with pytest.raises(SystemExit) as stopped:
        gateway_main.main()
    assert str(stopped.value).startswith(
        "gateway: refusing to start: the operator's key from AIFACTORY_ADMIN_KEY"
    )
    assert started == []
    with pytest.raises(AdminKeyRefused):  # nor does a service built from such settings
        gateway_main.create_service(GatewaySettings(admin_key="too-short"))


def test_compose_ships_no_key_and_publishes_on_loopback_only() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    assert "change-me" not in text
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"
        environment = service.get("environment") or {}
        for variable in ("AIFACTORY_ADMIN_KEY", "AIFACTORY_INGEST_TOKEN"):
            if variable in environment:  # taken from the operator's .env, required, no default
                assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", environment[variable]), (name, variable)
    gateway_environment = compose["services"]["gateway"]["environment"]
    assert "AIFACTORY_ADMIN_KEY" in gateway_environment
    assert all(
        "AIFACTORY_ADMIN_KEY" not in (s.get("environment") or {})
        for n, s in compose["services"].items()
        if n != "gateway"
    )


def test_the_kubernetes_manifests_ship_no_key_and_mount_the_operators_from_a_secret() -> None:
    documents = [
        d for path in (ROOT / "deploy").rglob("*.yaml") for d in yaml.safe_load_all(path.read_text()) if d
    ]
    assert "change-me" not in "".join(p.read_text() for p in (ROOT / "deploy").rglob("*") if p.is_file())
    assert not [d for d in documents if d["kind"] == "Secret"], (
        "Secrets are created by the operator, not shipped"
    )
    (gateway,) = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "gateway"]
    pod = gateway["spec"]["template"]["spec"]
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}
    (mount,) = pod["containers"][0]["volumeMounts"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert env["AIFACTORY_ADMIN_KEY_FILE"].startswith(mount["mountPath"] + "/")
    assert volume["secret"]["secretName"] == "aifactory-admin-key"

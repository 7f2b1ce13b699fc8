"""Metering needs the secret it shares with the gateway (AIFACTORY_METERING_API_KEY) to start: missing,
short or a placeholder, it refuses with a message that never repeats the key. Its internal API listens
on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import secrets

import pytest

from services.metering import main as metering_main
from services.metering.settings import MeteringSettings, ServiceKeyRefused

GOOD_KEY = secrets.token_urlsafe(32)  # what the launcher generates: 43 characters


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIFACTORY_METERING_API_KEY", raising=False)
    monkeypatch.delenv("AIFACTORY_HTTP_HOST", raising=False)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "is not set"),
        ("short-key-0123456789", "has 20 characters, fewer than 32"),
        ("change-me-metering-api-key-0123456789abcdef", "is a placeholder"),
        ("x" * 40, "is one character repeated"),
    ],
)
def test_an_unfit_key_is_refused(key: str, says: str) -> None:
    with pytest.raises(ServiceKeyRefused) as refused:
        MeteringSettings(metering_api_key=key).service_key()
    assert str(refused.value).startswith(f"AIFACTORY_METERING_API_KEY {says}")
    assert not key or key not in str(refused.value)


def test_the_key_comes_from_the_environment_and_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_METERING_API_KEY", GOOD_KEY)
    settings = MeteringSettings()
    assert settings.service_key() == GOOD_KEY
    assert GOOD_KEY not in repr(settings) and GOOD_KEY not in str(settings.model_dump())


def test_the_internal_api_listens_on_loopback_by_default() -> None:
    assert MeteringSettings().http_host == "127.0.0.1"


def test_metering_does_not_start_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(metering_main, "run_service", lambda *args: started.append("started"))
    with pytest.raises(SystemExit) as stopped:
        metering_main.main()
    assert str(stopped.value) == (
        "metering: refusing to start: AIFACTORY_METERING_API_KEY is not set; "
        "generate one with: openssl rand -hex 32"
    )
    assert started == []
    with pytest.raises(ServiceKeyRefused):  # nor is a service built from such settings
        metering_main.create_service(MeteringSettings(metering_api_key="too-short"))

    monkeypatch.setenv("AIFACTORY_METERING_API_KEY", GOOD_KEY)
    metering_main.main()
    assert started == ["started"]

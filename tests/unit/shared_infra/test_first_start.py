"""The first start's defaults: what they ask of the gateway, and how they are kept for later starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from shared.client.gateway import GatewayClient
from shared.infra.first_start import (
    FirstStartDefaults,
    create_defaults,
    example_price_book,
    load_defaults,
    read_env_file,
    save_defaults,
    write_env_file,
)


class RecordingGateway:
    """Answers like the gateway and notes each call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def create_tenant(self, name: str, currency: str) -> dict[str, Any]:
        self.calls.append(("create_tenant", (name, currency)))
        return {"tenant_id": "tnt_1", "admin_key": "afk_secret"}

    def set_price_book(self, tenant_id: str, book: dict[str, Any]) -> None:
        self.calls.append(("set_price_book", (tenant_id, book)))

    def create_project(self, name: str, tenant_id: str | None = None) -> dict[str, Any]:
        self.calls.append(("create_project", (name, tenant_id)))
        return {"project_id": "prj_1"}

    def set_quotas(self, project_id: str, quotas: dict[str, int]) -> None:
        self.calls.append(("set_quotas", (project_id, quotas)))


def test_the_defaults_are_a_tenant_its_price_book_a_project_and_its_quota_on_every_gpu() -> None:
    gateway = RecordingGateway()
    defaults = create_defaults(cast(GatewayClient, gateway), gpu_model="H100", gpus=16)
    assert defaults == FirstStartDefaults("tnt_1", "prj_1", "afk_secret")
    assert gateway.calls == [
        ("create_tenant", ("default", "USD")),
        ("set_price_book", ("tnt_1", example_price_book("H100"))),  # priced before any usage
        ("create_project", ("default", "tnt_1")),
        ("set_quotas", ("prj_1", {"H100": 16})),
    ]


def test_the_example_price_book_prices_every_meter_and_the_simulated_model() -> None:
    book = example_price_book("A100")
    assert set(book["gpu_hour"]) == {"A100"}
    assert all(book[meter] != "0" for meter in ("per_1k_tokens", "per_request", "per_kwh"))


def test_saved_defaults_are_read_back_for_connection_env_and_kept_private(tmp_path: Path) -> None:
    assert load_defaults(tmp_path) == {}
    save_defaults(tmp_path, FirstStartDefaults("tnt_1", "prj_1", "afk_secret"))
    assert load_defaults(tmp_path) == {
        "AIFACTORY_TENANT": "tnt_1",
        "AIFACTORY_PROJECT": "prj_1",
        "AIFACTORY_TENANT_API_KEY": "afk_secret",
    }
    assert (tmp_path / "defaults.env").stat().st_mode & 0o077 == 0


def test_env_files_are_owner_only_even_over_a_readable_old_one(tmp_path: Path) -> None:
    path = tmp_path / "connection.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)  # as an older release left it
    write_env_file(path, {"AIFACTORY_API_KEY": "k" * 32, "AIFACTORY_PROJECT": "prj_1"})
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_env_file(path) == {"AIFACTORY_API_KEY": "k" * 32, "AIFACTORY_PROJECT": "prj_1"}

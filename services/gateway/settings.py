"""Gateway settings from the environment (prefix AIFACTORY_), on top of the platform's."""

from __future__ import annotations

from pydantic import Field

from shared.settings import PlatformSettings, PriorityClassSettings


class GatewaySettings(PlatformSettings, PriorityClassSettings):
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)  # 0: any free port (tests)
    # The operator's bootstrap key (AIFACTORY_ADMIN_KEY). Empty: no operator action is possible.
    admin_key: str = ""
    max_body_bytes: int = Field(default=65_536, ge=1)
    # Metering's internal API (AIFACTORY_METERING_URL): budgets and webhooks are read back from it.
    # Several replicas: their URLs comma-separated, each tried in turn when one does not answer.
    metering_url: str = "http://127.0.0.1:8002"

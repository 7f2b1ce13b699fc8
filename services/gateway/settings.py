"""Gateway settings from the environment (prefix AIFACTORY_), on top of the platform's."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from services.gateway.domain.auth import operator_key_problem
from shared.settings import PlatformSettings, PriorityClassSettings


class AdminKeyRefused(ValueError):
    """The operator's key as configured must not be used: the gateway does not start (the message says why
    and never repeats the key)."""


class GatewaySettings(PlatformSettings, PriorityClassSettings):
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)  # 0: any free port (tests)
    # The operator's key: AIFACTORY_ADMIN_KEY, or AIFACTORY_ADMIN_KEY_FILE naming a file that holds it (a
    # mounted secret; surrounding whitespace is dropped), never both. Neither: no operator action is
    # possible. A placeholder or a key shorter than 24 characters stops the gateway (operator_key()).
    admin_key: SecretStr = SecretStr("")
    admin_key_file: Path | None = None
    max_body_bytes: int = Field(default=65_536, ge=1)
    # Metering's internal API (AIFACTORY_METERING_URL): budgets and webhooks are read back from it.
    # Several replicas: their URLs comma-separated, each tried in turn when one does not answer.
    metering_url: str = "http://127.0.0.1:8002"
    # Webhooks may go to internal (non-global) addresses: the same AIFACTORY_WEBHOOK_ALLOW_INTERNAL as
    # metering's, which delivers them (off: a literal internal address is a 422 at registration).
    webhook_allow_internal: bool = False
    # The secret shared with metering alone (AIFACTORY_METERING_API_KEY): it signs each read, metering
    # answers no other caller. Empty: metering's reads fail (503); short or a placeholder: no start.
    metering_api_key: SecretStr = SecretStr("")

    def operator_key(self) -> str:
        """The operator's key in force ("" for none), read when the gateway starts; AdminKeyRefused when
        both sources are given, the file cannot be read or is empty, or the key is a placeholder or short."""
        variable = self.admin_key.get_secret_value()
        if self.admin_key_file is None:
            source, key = "AIFACTORY_ADMIN_KEY", variable
        elif variable:
            raise AdminKeyRefused(
                "AIFACTORY_ADMIN_KEY and AIFACTORY_ADMIN_KEY_FILE are both set: keep one (the file, say)"
            )
        else:
            source = f"AIFACTORY_ADMIN_KEY_FILE ({self.admin_key_file})"
            try:
                key = self.admin_key_file.read_text().strip()
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
                raise AdminKeyRefused(f"{source} cannot be read: {reason}") from None
            if not key:
                raise AdminKeyRefused(f"{source} is empty")
        problem = operator_key_problem(key)
        if problem:
            raise AdminKeyRefused(f"the operator's key from {source} {problem}")
        return key

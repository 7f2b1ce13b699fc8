"""Ingest's settings (environment variables AIFACTORY_*)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from shared.contracts.secret_strength import secret_problem
from shared.settings import PlatformSettings

MIB = 1024 * 1024
DAY_S = 86_400


MIN_INGEST_TOKEN_LENGTH = 24


class IngestSettings(PlatformSettings):
    http_host: str = "127.0.0.1"
    # 0 picks a free port (tests); the bound port is on the HTTP server object.
    http_port: int = Field(default=8001, ge=0, le=65535)
    # Bearer token for POST /v1/usage and GET /v1/dead-letters (AIFACTORY_INGEST_TOKEN); required.
    ingest_token: SecretStr
    max_body_bytes: int = Field(default=MIB, gt=0)
    # Usage stamped further ahead of our clock than this, or older than max_age_s, is rejected.
    max_future_skew_s: float = Field(default=300.0, ge=0)
    max_age_s: float = Field(default=7 * DAY_S, gt=0)
    # Agent samples handled per transaction (AIFACTORY_SAMPLE_BATCH_SIZE).
    sample_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # How often dedupe keys and allocation intervals too old to matter are deleted.
    prune_interval_s: float = Field(default=3600.0, gt=0)
    # A sample held for an allocation's release this long (ingest never heard it) is dead-lettered,
    # checked every prune_interval_s (AIFACTORY_HELD_SAMPLE_RETENTION_S).
    held_sample_retention_s: float = Field(default=7 * DAY_S, gt=0)

    @field_validator("ingest_token")
    @classmethod
    def _token_not_blank(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("AIFACTORY_INGEST_TOKEN must not be empty")
        return token

    def token_problem(self) -> str | None:
        """Why the token is unfit (a placeholder, short), in words that never repeat it; checked at start
        rather than in a validator, whose error would print the value."""
        problem = secret_problem(self.ingest_token.get_secret_value(), min_length=MIN_INGEST_TOKEN_LENGTH)
        return f"AIFACTORY_INGEST_TOKEN {problem}" if problem else None

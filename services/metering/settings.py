"""Metering's settings (environment variables with the AIFACTORY_ prefix)."""

from __future__ import annotations

from pydantic import Field

from services.metering.domain.usage_checks import DAY_S, UsageLimits
from services.metering.domain.webhooks import RetryPolicy
from shared.settings import PlatformSettings


class MeteringSettings(PlatformSettings):
    # At most one InvoiceUpdated per tenant per this many seconds (AIFACTORY_INVOICE_PUBLISH_INTERVAL_S).
    invoice_publish_interval_s: float = Field(default=1.0, gt=0)
    # The internal usage query API (the gateway calls it for an authenticated tenant); port 0 picks one.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8002, ge=0, le=65535)
    # Usage (or a release) stamped further ahead of metering's clock than this is refused...
    max_future_skew_s: float = Field(default=300.0, ge=0)
    # ...and so is usage older than the grace period for late usage (AIFACTORY_USAGE_GRACE_S).
    usage_grace_s: float = Field(default=35 * DAY_S, gt=0)
    # Usage records handled per transaction, and how many batches may be in flight at once (one is read
    # and rated while the other commits). Rollups are sums, so batches may commit in any order.
    usage_batch_size: int = Field(default=2000, ge=1, le=10_000)
    usage_consumers: int = Field(default=2, ge=1, le=8)

    @property
    def usage_limits(self) -> UsageLimits:
        return UsageLimits(max_future_skew_s=self.max_future_skew_s, grace_s=self.usage_grace_s)

    # Webhooks for billing events: attempts per delivery, the backoff (base doubled per attempt, up to
    # the maximum, with jitter), each attempt's timeout, and how often due deliveries are looked for.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_base_s: float = Field(default=5.0, gt=0)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_poll_s: float = Field(default=0.5, gt=0)
    # Deliveries to internal addresses (loopback, private, link-local) are refused unless allowed here
    # (AIFACTORY_WEBHOOK_ALLOW_INTERNAL=true, for receivers inside the operator's own network).
    webhook_allow_internal: bool = False

    @property
    def webhook_retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.webhook_max_attempts,
            base_delay_s=self.webhook_backoff_base_s,
            max_delay_s=max(self.webhook_backoff_max_s, self.webhook_backoff_base_s),
        )

"""Metering's settings (environment variables with the AIFACTORY_ prefix)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, SecretStr, model_validator

from services.metering.chargeback.domain.report import FleetRates
from services.metering.chargeback.domain.showback import IdleCostMode
from services.metering.domain.errors import REFUSED_INPUT
from services.metering.usage.domain.checks import DAY_S, UsageLimits
from services.metering.webhooks.domain.rules import RetryPolicy, WebhookLimits
from shared.contracts.service_auth import service_key_problem
from shared.settings import PlatformSettings


class ServiceKeyRefused(ValueError):
    """AIFACTORY_METERING_API_KEY is missing or unfit: metering does not start (the message never repeats
    the key)."""


class MeteringSettings(PlatformSettings):
    # At most one InvoiceUpdated per tenant per this many seconds (AIFACTORY_INVOICE_PUBLISH_INTERVAL_S):
    # how far a draft invoice, and the budgets that follow it, may lag the usage. Each snapshot reprices
    # the tenant's open invoice (a dozen queries), so with many tenants busy a 1 s interval cost metering
    # more than the usage itself (bench/metering_pipeline.py, 100 tenants: about 40% of its CPU).
    invoice_publish_interval_s: float = Field(default=5.0, gt=0)
    # The internal usage query API (the gateway calls it for an authenticated tenant); port 0 picks one.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8002, ge=0, le=65535)
    # The secret shared with the gateway alone (AIFACTORY_METERING_API_KEY, required: at least 32
    # characters, no placeholder): the internal API answers only calls it signed
    # (shared/contracts/service_auth.py). Checked when the service is built (service_key()).
    metering_api_key: SecretStr = SecretStr("")

    def service_key(self) -> str:
        """The shared service secret; ServiceKeyRefused when it is missing, short or a placeholder."""
        key = self.metering_api_key.get_secret_value()
        if problem := service_key_problem(key):
            raise ServiceKeyRefused(f"AIFACTORY_METERING_API_KEY {problem}")
        return key

    # Usage (or a release) stamped further ahead of metering's clock than this is refused...
    max_future_skew_s: float = Field(default=300.0, ge=0)
    # ...and so is usage older than the grace period for late usage (AIFACTORY_USAGE_GRACE_S).
    usage_grace_s: float = Field(default=35 * DAY_S, gt=0)
    # Usage records handled per transaction, and how many batches may be in flight at once (one is read
    # and rated while the other commits). Rollups are sums, so batches may commit in any order.
    usage_batch_size: int = Field(default=2000, ge=1, le=10_000)
    usage_consumers: int = Field(default=2, ge=1, le=8)
    # Usage of a tenant that cannot be billed yet (unknown to metering, or without a price book) waits,
    # retried every AIFACTORY_USAGE_RETRY_S, and is dead-lettered with the reason after
    # AIFACTORY_USAGE_MAX_WAIT_S (a day: time for an operator to set a forgotten price book).
    usage_retry_s: float = Field(default=5.0, gt=0)
    usage_max_wait_s: float = Field(default=DAY_S, ge=0)

    @property
    def usage_limits(self) -> UsageLimits:
        return UsageLimits(max_future_skew_s=self.max_future_skew_s, grace_s=self.usage_grace_s)

    # Webhooks for billing events: attempts per delivery, the backoff (base doubled per attempt, up to
    # the maximum, with jitter), each attempt's deadline (resolving, connecting, sending and the whole
    # response: a receiver trickling its answer is cut there), and how often due deliveries are looked for.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_backoff_base_s: float = Field(default=5.0, gt=0)
    webhook_backoff_max_s: float = Field(default=3600.0, gt=0)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_poll_s: float = Field(default=0.5, gt=0)
    # Deliveries to addresses that are not globally routable (loopback, private, link-local, carrier-grade
    # NAT, ...) are refused unless allowed here (AIFACTORY_WEBHOOK_ALLOW_INTERNAL=true, for receivers
    # inside the operator's own network, and the tests' and demo's receivers on 127.0.0.1).
    webhook_allow_internal: bool = False
    # What one tenant may take of the platform: at most this much of a response is read, this many of
    # its attempts are under way at once (per metering replica; the other tenants' go on meanwhile), and
    # it has this many active endpoints (one more is refused: dead-lettered with the reason).
    webhook_max_response_bytes: int = Field(default=64 * 1024, ge=1)
    webhook_max_in_flight_per_tenant: int = Field(default=4, ge=1)
    webhook_max_endpoints_per_tenant: int = Field(default=10, ge=1)

    @property
    def webhook_limits(self) -> WebhookLimits:
        return WebhookLimits(
            max_response_bytes=self.webhook_max_response_bytes,
            max_in_flight_per_tenant=self.webhook_max_in_flight_per_tenant,
            max_endpoints_per_tenant=self.webhook_max_endpoints_per_tenant,
        )

    # Chargeback / showback: the fleet's rate per GPU-hour per GPU model, what internal chargeback bills
    # each project (AIFACTORY_CHARGEBACK_RATES='{"H100": "2.50", "A100": "1.60"}'); a model without a
    # rate is listed unrated. The currency (AIFACTORY_CHARGEBACK_CURRENCY) and how idle GPUs' cost is
    # shown unless a query asks otherwise (AIFACTORY_CHARGEBACK_IDLE: shared or separate_line).
    chargeback_rates: dict[str, Decimal] = Field(default_factory=dict)
    chargeback_currency: str = "USD"
    chargeback_idle: IdleCostMode = IdleCostMode.SHARED

    @property
    def fleet_rates(self) -> FleetRates:
        return FleetRates(self.chargeback_currency, self.chargeback_rates)

    @model_validator(mode="after")
    def _valid_fleet_rates(self) -> MeteringSettings:
        try:
            self.fleet_rates  # noqa: B018 - built to be checked
        except REFUSED_INPUT as error:
            raise ValueError(str(error)) from error
        return self

    @property
    def webhook_retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.webhook_max_attempts,
            base_delay_s=self.webhook_backoff_base_s,
            max_delay_s=max(self.webhook_backoff_max_s, self.webhook_backoff_base_s),
        )

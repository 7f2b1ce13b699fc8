"""Metering's settings (environment variables with the AIFACTORY_ prefix)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import PlatformSettings


class MeteringSettings(PlatformSettings):
    # At most one InvoiceUpdated per tenant per this many seconds (AIFACTORY_INVOICE_PUBLISH_INTERVAL_S).
    invoice_publish_interval_s: float = Field(default=1.0, gt=0)

"""Metering's domain errors, each with a stable code.

RejectedInput can never succeed (the bus dead-letters it with the message as the reason), nor can the
pricing core's PricingError (an unknown currency, a bad period, price, credit or budget): REFUSED_INPUT
names both. NotYetKnown may succeed later, once an event still on its way has arrived (the bus retries it).
"""

from __future__ import annotations

from pricing.errors import PricingError


class MeteringError(Exception):
    code = "metering_error"


class RejectedInput(MeteringError):
    code = "rejected_input"


class NotYetKnown(MeteringError):
    code = "not_yet_known"


# Input that can never succeed: metering's own refusals and the pricing core's.
REFUSED_INPUT: tuple[type[Exception], ...] = (RejectedInput, PricingError)


class InvalidInterval(RejectedInput):
    code = "invalid_interval"


class CurrencyMismatch(RejectedInput):
    code = "currency_mismatch"


class NoPriceForModel(RejectedInput):
    code = "no_price_for_model"

    def __init__(self, gpu_model: str, tenant_id: str) -> None:
        super().__init__(f"no price for GPU model {gpu_model} in tenant {tenant_id}'s price book")
        self.gpu_model = gpu_model
        self.tenant_id = tenant_id


class DuplicateSource(RejectedInput):
    """The same allocation or usage record arrived again under another event id: billing it twice is wrong."""

    code = "duplicate_source"


class NotInvoiced(RejectedInput):
    code = "not_invoiced"


class PriceBookNotYetKnown(NotYetKnown):
    code = "price_book_not_yet_known"

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"tenant {tenant_id} has no price book yet")
        self.tenant_id = tenant_id


class TenantNotYetKnown(NotYetKnown):
    code = "tenant_not_yet_known"

    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"tenant {tenant_id} is not known to metering yet")
        self.tenant_id = tenant_id


class ForeignTenantItem(RejectedInput):
    """A rated item of another tenant reached this tenant's invoice: tenants never see each other's data."""

    code = "foreign_tenant_item"


class InvoiceNotDraft(RejectedInput):
    """A finalized or void invoice is immutable: only a draft may change or be finalized."""

    code = "invoice_not_draft"


class InvoiceNotFinalized(RejectedInput):
    code = "invoice_not_finalized"


class InvalidChargebackInput(RejectedInput):
    code = "invalid_chargeback_input"

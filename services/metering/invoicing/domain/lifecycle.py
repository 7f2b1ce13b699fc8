"""An invoice's life: draft -> finalized (immutable) -> void, with a replacement draft.

Rules:
1. A period's invoice is a draft while the period runs and during the grace period after it ends
   (GracePolicy.grace, 3 days by default): late usage of the period updates the draft.
2. Finalization freezes it: no line, total or status changes afterwards. It is due once the grace period
   is over (finalization_due); an explicit request may close it earlier.
3. Usage of a finalized period is billed on the next period whose invoice is still a draft, as
   adjustment lines referring to the original period (billing_period_for; invoice.py rule 3).
4. A finalized invoice can be voided (with a reason): it is kept, marked void, and a replacement draft
   (revision + 1, `replaces` = the voided id) becomes the period's open invoice, to be priced again and
   finalized in turn. Its opening credit is the voided one's: the voided invoice's credit is given back.
5. Only a draft changes: revise_draft replaces a draft's content with a fresh pricing of the same
   invoice (same id and revision); anything else is InvoiceNotDraft.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pricing.periods import as_utc, open_period, period_bounds
from services.metering.domain.errors import InvoiceNotDraft, InvoiceNotFinalized
from services.metering.invoicing.domain.invoice import BillingInvoice, InvoiceStatus, billing_invoice_id


@dataclass(frozen=True)
class GracePolicy:
    grace: timedelta = timedelta(days=3)

    def __post_init__(self) -> None:
        if self.grace < timedelta(0):
            raise ValueError(f"the grace period cannot be negative, got {self.grace}")


def grace_ends(period: str, policy: GracePolicy) -> datetime:
    return period_bounds(period)[1] + policy.grace


def finalization_due(period: str, now: datetime, policy: GracePolicy) -> bool:
    """True once the period and its grace period are over."""
    return as_utc(now) >= grace_ends(period, policy)


def billing_period_for(usage_period: str, finalized_periods: Collection[str]) -> str:
    """The invoice that bills usage of `usage_period`: its own draft, or the next one still open."""
    return open_period(usage_period, finalized_periods)


def is_adjustment(usage_period: str, billing_period: str) -> bool:
    return usage_period != billing_period


def revise_draft(current: BillingInvoice, recomputed: BillingInvoice) -> BillingInvoice:
    """The draft with its content recomputed; a finalized or void invoice never changes."""
    _require_draft(current, "revised")
    if (recomputed.invoice_id, recomputed.status) != (current.invoice_id, InvoiceStatus.DRAFT):
        raise ValueError(
            f"{recomputed.invoice_id} ({recomputed.status}) cannot replace draft {current.invoice_id}"
        )
    return replace(recomputed, replaces=current.replaces)


def finalize(draft: BillingInvoice, at: datetime) -> BillingInvoice:
    _require_draft(draft, "finalized")
    return replace(draft, status=InvoiceStatus.FINALIZED, finalized_at=as_utc(at))


def void(finalized: BillingInvoice, at: datetime, reason: str) -> tuple[BillingInvoice, BillingInvoice]:
    """(the voided invoice, its replacement draft). The draft keeps the voided lines until repriced."""
    if finalized.status is not InvoiceStatus.FINALIZED:
        raise InvoiceNotFinalized(
            f"invoice {finalized.invoice_id} is {finalized.status.value}: only a finalized invoice can be voided"
        )
    if not reason.strip():
        raise ValueError("voiding an invoice needs a reason")
    voided = replace(finalized, status=InvoiceStatus.VOID, voided_at=as_utc(at), void_reason=reason)
    revision = finalized.revision + 1
    replacement = replace(
        finalized,
        invoice_id=billing_invoice_id(finalized.tenant_id, finalized.period, revision),
        status=InvoiceStatus.DRAFT,
        revision=revision,
        replaces=finalized.invoice_id,
        finalized_at=None,
        voided_at=None,
        void_reason=None,
    )
    return voided, replacement


def _require_draft(invoice: BillingInvoice, verb: str) -> None:
    if invoice.status is not InvoiceStatus.DRAFT:
        raise InvoiceNotDraft(
            f"invoice {invoice.invoice_id} is {invoice.status.value} and cannot be {verb}: only a draft changes"
        )

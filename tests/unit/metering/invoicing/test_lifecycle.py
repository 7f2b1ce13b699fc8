"""Draft -> finalized -> void; the grace period; late usage as adjustment lines on the next open invoice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pricing.meters import MeterName
from services.metering.domain.errors import InvoiceNotDraft, InvoiceNotFinalized
from services.metering.invoicing.domain.invoice import InvoiceStatus, LineKind
from services.metering.invoicing.domain.lifecycle import (
    GracePolicy,
    billing_period_for,
    finalization_due,
    finalize,
    revise_draft,
    void,
)
from tests.unit.metering.invoicing.builders import (
    FEB,
    HOUR,
    JAN,
    book,
    d,
    gpu_item,
    graduated,
    invoice,
    quantity_commitment,
)

BOOKS = [book(gpu_hour={"H100": "2.00"})]
LATE_JAN = JAN + timedelta(days=30)  # bound on Jan 31st


def test_a_finalized_invoice_is_frozen() -> None:
    draft = invoice([gpu_item(HOUR, BOOKS)], BOOKS)
    final = finalize(draft, FEB + timedelta(days=3))

    assert (final.status, final.finalized_at, final.total) == (
        InvoiceStatus.FINALIZED,
        FEB + timedelta(days=3),
        d("2.00"),
    )
    with pytest.raises(InvoiceNotDraft, match="inv_acme_2026-01 is finalized"):
        finalize(final, FEB + timedelta(days=4))
    with pytest.raises(InvoiceNotDraft, match="only a draft changes"):
        revise_draft(final, invoice([gpu_item(2 * HOUR, BOOKS)], BOOKS))


def test_a_draft_is_revised_with_late_usage_inside_the_grace_period() -> None:
    first = invoice([gpu_item(HOUR, BOOKS)], BOOKS)
    assert not finalization_due("2026-01", FEB + timedelta(days=2), GracePolicy())
    late = gpu_item(HOUR, BOOKS, bound_at=LATE_JAN)

    assert billing_period_for(late.usage_period, finalized_periods=set()) == "2026-01"
    revised = revise_draft(first, invoice([gpu_item(HOUR, BOOKS), late], BOOKS))
    assert (revised.invoice_id, revised.status, revised.total) == (
        first.invoice_id,
        InvoiceStatus.DRAFT,
        d("4.00"),
    )


def test_finalization_is_due_once_the_grace_period_is_over() -> None:
    policy = GracePolicy(grace=timedelta(days=3))
    assert not finalization_due("2026-01", FEB + timedelta(days=3) - timedelta(microseconds=1), policy)
    assert finalization_due("2026-01", FEB + timedelta(days=3), policy)
    assert finalization_due("2026-01", FEB, GracePolicy(grace=timedelta(0)))


def test_a_negative_grace_period_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        GracePolicy(grace=timedelta(days=-1))


def test_voiding_keeps_the_invoice_and_opens_a_replacement_draft() -> None:
    final = finalize(invoice([gpu_item(HOUR, BOOKS)], BOOKS, opening_credit="1.00"), FEB + timedelta(days=3))

    voided, replacement = void(final, FEB + timedelta(days=5), "wrong price book")

    assert (voided.invoice_id, voided.status, voided.void_reason) == (
        "inv_acme_2026-01",
        InvoiceStatus.VOID,
        "wrong price book",
    )
    assert (replacement.invoice_id, replacement.status, replacement.revision, replacement.replaces) == (
        "inv_acme_2026-01_r2",
        InvoiceStatus.DRAFT,
        2,
        "inv_acme_2026-01",
    )
    assert replacement.credit_opening == final.credit_opening  # the voided invoice's credit comes back
    assert finalize(replacement, FEB + timedelta(days=6)).status is InvoiceStatus.FINALIZED


def test_only_a_finalized_invoice_can_be_voided() -> None:
    draft = invoice([], BOOKS)
    with pytest.raises(InvoiceNotFinalized, match="is draft"):
        void(draft, FEB, "typo")
    voided, _ = void(finalize(draft, FEB), FEB, "typo")
    with pytest.raises(InvoiceNotFinalized, match="is void"):
        void(voided, FEB, "again")


def test_voiding_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        void(finalize(invoice([], BOOKS), FEB), FEB, " ")


def test_late_usage_of_a_finalized_period_is_an_adjustment_on_the_next_invoice() -> None:
    on_time = gpu_item(HOUR, BOOKS)
    late = gpu_item(3 * HOUR, BOOKS, bound_at=LATE_JAN, finalized={"2026-01"})
    february = gpu_item(HOUR, BOOKS, bound_at=FEB + timedelta(days=3))
    assert (late.usage_period, late.period) == ("2026-01", "2026-02")

    result = invoice([on_time, late, february], BOOKS, "2026-02")

    usage, adjustment = result.lines
    assert (usage.kind, usage.amount) == (LineKind.USAGE, d("2.00"))
    assert (adjustment.kind, adjustment.meter, adjustment.usage_meter, adjustment.adjusts_period) == (
        LineKind.ADJUSTMENT,
        "adjustment",
        MeterName.GPU_HOURS,
        "2026-01",
    )
    assert (adjustment.project_id, adjustment.gpu_model, adjustment.quantity, adjustment.amount) == (
        "p1",
        "H100",
        d(3),
        d("6.00"),
    )
    assert invoice([on_time, late, february], BOOKS, "2026-01").total == d("2.00")  # January is untouched


def test_late_usage_skips_every_finalized_period() -> None:
    late = gpu_item(HOUR, BOOKS, bound_at=LATE_JAN, finalized={"2026-01", "2026-02"})
    (adjustment,) = invoice([late], BOOKS, "2026-03").lines
    assert (late.period, adjustment.adjusts_period, adjustment.amount) == ("2026-03", "2026-01", d("2.00"))


def test_an_adjustment_continues_the_original_periods_tiers() -> None:
    books = [book(plans={(MeterName.GPU_HOURS, "H100"): graduated(("100", "3.00"), (None, "2.00"))})]
    on_time = gpu_item(90 * HOUR, books)
    late = gpu_item(20 * HOUR, books, bound_at=LATE_JAN, finalized={"2026-01"})

    (adjustment,) = invoice([on_time, late], books, "2026-02").lines

    assert adjustment.amount == d("50.00")  # 10 more at 3.00, then 10 at 2.00


def test_later_adjustments_build_on_earlier_ones() -> None:
    books = [book(plans={(MeterName.GPU_HOURS, "H100"): graduated(("100", "3.00"), (None, "2.00"))})]
    on_time = gpu_item(90 * HOUR, books)
    first = gpu_item(10 * HOUR, books, bound_at=LATE_JAN, finalized={"2026-01"})
    second = gpu_item(10 * HOUR, books, bound_at=LATE_JAN, finalized={"2026-01", "2026-02"})

    (adjustment,) = invoice([on_time, first, second], books, "2026-03").lines

    assert adjustment.amount == d("20.00")  # the first late 10 hours already filled the 3.00 tier


def test_late_usage_against_a_shortfall_only_moves_it() -> None:
    books = [book(gpu_hour={"H100": "2.50"}, commitments=[quantity_commitment("100", "1.80")])]
    on_time = gpu_item(40 * HOUR, books)
    late = gpu_item(10 * HOUR, books, bound_at=LATE_JAN, finalized={"2026-01"})

    result = invoice([on_time, late], books, "2026-02")

    usage_part, shortfall_part = result.lines_of(LineKind.ADJUSTMENT)
    assert (usage_part.project_id, usage_part.amount) == ("p1", d("18.00"))
    assert (shortfall_part.commitment_id, shortfall_part.quantity, shortfall_part.amount) == (
        "c-qty",
        d(-10),
        d("-18.00"),
    )
    # February's own commitment is due in full (100 unused GPU-hours) besides the net-zero adjustment.
    assert result.total == d("180.00")

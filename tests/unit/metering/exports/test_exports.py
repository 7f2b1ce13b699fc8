"""Exports: invoices as JSON and CSV, and FOCUS 1.2 rows (columns, formats, nulls, cost identities)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal

from services.metering.exports.domain.focus_export import FOCUS_COLUMNS, FocusContext, focus_csv, focus_rows
from services.metering.exports.domain.invoice_export import (
    INVOICE_CSV_COLUMNS,
    invoice_csv,
    invoice_document,
    invoice_json,
)
from services.metering.invoicing.domain.lifecycle import finalize
from tests.unit.metering.invoicing.builders import (
    FEB,
    book,
    invoice,
    realistic_invoice,
    request_item,
    tiered_yen_invoice,
)

# Every column FOCUS 1.2 makes mandatory for all providers (the FinOps Foundation's 1.2 rule model).
FOCUS_1_2_MANDATORY = {
    "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd",
    "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargePeriodEnd",
    "ChargePeriodStart", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName",
}  # fmt: skip
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
PLAIN_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
CONTEXT = FocusContext("Acme Inc", project_names={"p1": "Vision"})


def test_focus_rows_have_every_mandatory_column_in_a_fixed_order() -> None:
    rows = list(csv.DictReader(io.StringIO(focus_csv([realistic_invoice()], {"acme": CONTEXT}))))
    assert set(FOCUS_COLUMNS) >= FOCUS_1_2_MANDATORY
    assert list(rows[0]) == list(FOCUS_COLUMNS)
    assert all(not column.startswith("x_") or column in FOCUS_COLUMNS for column in rows[0])


def test_focus_values_are_formatted_and_nulls_are_empty() -> None:
    rows = focus_rows(realistic_invoice(), CONTEXT)
    for row in rows:
        for column in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
            assert ISO_UTC.match(row[column]), (column, row[column])
        for column in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
            assert PLAIN_DECIMAL.match(row[column]), (column, row[column])
        assert all(row[c] for c in FOCUS_1_2_MANDATORY - {"ChargeClass", "PricingQuantity", "PricingUnit"})
    assert rows[0]["BillingPeriodStart"] == "2026-02-01T00:00:00Z"
    assert rows[0]["BillingPeriodEnd"] == "2026-03-01T00:00:00Z"  # exclusive


def test_focus_billed_cost_adds_up_to_the_invoice_total() -> None:
    bill = realistic_invoice()
    rows = focus_rows(bill, CONTEXT)
    assert {row["InvoiceId"] for row in rows} == {bill.invoice_id}
    assert sum(Decimal(row["BilledCost"]) for row in rows) == bill.total


def test_focus_unit_price_times_quantity_is_the_list_cost() -> None:
    for row in focus_rows(realistic_invoice(), CONTEXT):
        if row["ListUnitPrice"] and row["ChargeClass"] != "Correction":
            product = Decimal(row["ListUnitPrice"]) * Decimal(row["PricingQuantity"])
            list_cost = Decimal(row["ListCost"])
            assert abs(product - list_cost) <= Decimal("1e-9") * max(abs(list_cost), Decimal(1))


def test_focus_categories_follow_the_line_kinds() -> None:
    rows = focus_rows(realistic_invoice(), CONTEXT)
    summary = [
        (r["ChargeCategory"], r["ChargeClass"], r["ChargeFrequency"], r["PricingCategory"], r["x_Meter"])
        for r in rows
    ]
    assert summary == [
        ("Usage", "", "Usage-Based", "Standard", "gpu_hours"),
        ("Usage", "", "Usage-Based", "Committed", "gpu_hours"),
        ("Usage", "", "Usage-Based", "Standard", "requests"),
        ("Adjustment", "", "Recurring", "Committed", "commitment_shortfall"),
        ("Usage", "Correction", "Usage-Based", "Standard", "adjustment"),
        ("Credit", "", "One-Time", "", "prepaid_credit"),
    ]


def test_a_focus_correction_row_covers_the_adjusted_period() -> None:
    correction = next(r for r in focus_rows(realistic_invoice(), CONTEXT) if r["ChargeClass"] == "Correction")
    assert (correction["ChargePeriodStart"], correction["ChargePeriodEnd"]) == (
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00Z",
    )
    assert (correction["BillingPeriodStart"], correction["x_AdjustsPeriod"]) == (
        "2026-02-01T00:00:00Z",
        "2026-01",
    )


def test_focus_names_projects_as_sub_accounts_and_gpus_as_resources() -> None:
    usage = focus_rows(realistic_invoice(), CONTEXT)[0]
    assert (usage["SubAccountId"], usage["SubAccountName"]) == ("p1", "Vision")
    assert (usage["ResourceId"], usage["ResourceType"], usage["SkuId"]) == (
        "aifactory:acme:p1:gpus:H100",
        "GPU",
        "gpu_hours:H100",
    )
    assert (usage["PricingUnit"], usage["ConsumedUnit"], usage["ServiceCategory"]) == (
        "GPU-Hours",
        "GPU-Hours",
        "AI and Machine Learning",
    )


def test_a_focus_credit_row_has_no_quantity_price_or_sku() -> None:
    credit = focus_rows(realistic_invoice(), CONTEXT)[-1]
    assert (credit["BilledCost"], credit["EffectiveCost"]) == ("-3.00", "-3.00")
    assert [
        credit[c] for c in ("PricingQuantity", "PricingUnit", "ListUnitPrice", "SkuId", "SubAccountId")
    ] == [""] * 5


def test_invoice_json_has_amounts_as_strings_and_a_stable_shape() -> None:
    bill = finalize(realistic_invoice(), FEB + timedelta(days=33))
    document = json.loads(invoice_json(bill))
    assert list(document) == list(invoice_document(bill))
    assert (document["total"], document["status"], document["finalized_at"]) == (
        str(bill.total),
        "finalized",
        "2026-03-06T00:00:00Z",
    )
    assert all(
        isinstance(line["amount"], str) and PLAIN_DECIMAL.match(line["amount"]) for line in document["lines"]
    )
    assert document["lines"][4]["adjusts_period"] == "2026-01"


def test_invoice_csv_has_one_row_per_line_in_a_stable_column_order() -> None:
    bill = realistic_invoice()
    rows = list(csv.reader(io.StringIO(invoice_csv(bill))))
    assert tuple(rows[0]) == INVOICE_CSV_COLUMNS
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [row["line_number"] for row in body] == ["1", "2", "3", "4", "5", "6"]
    assert sum(Decimal(row["amount"]) for row in body) == bill.total
    assert body[0]["gpu_model"] == "H100" and body[-1]["project_id"] == ""


def test_tiny_amounts_are_never_written_in_exponent_form() -> None:
    books = [book(per_request="1E-7")]
    bill = invoice([request_item(1, books)], books, currency="BHD")
    (row,) = focus_rows(bill, CONTEXT)
    assert (row["BilledCost"], row["ListUnitPrice"]) == ("0.000", "0.000")
    assert json.loads(invoice_json(bill))["lines"][0]["unit_price"] == "0.0000001"


def test_whole_yen_amounts_still_carry_a_decimal_point_in_focus() -> None:
    rows = focus_rows(tiered_yen_invoice(), FocusContext("Kaisha KK"))
    assert [(r["SubAccountId"], r["BilledCost"], r["BillingCurrency"]) for r in rows] == [
        ("speech", "1742.0", "JPY"),
        ("vision", "3483.0", "JPY"),
    ]

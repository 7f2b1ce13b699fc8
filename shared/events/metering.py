"""Events metering emits (stream METERING): invoice snapshots for read models and external billing."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from shared.events.base import Contract, Event


class InvoiceLine(Contract):
    project_id: str
    meter: str  # gpu_hours | tokens_1k | requests | energy_kwh
    gpu_model: str | None = None
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


class _InvoiceSnapshot(Event):
    PRODUCER: ClassVar[str] = "metering"
    ENTITY_FIELD: ClassVar[str | None] = "invoice_id"
    tenant_id: str
    invoice_id: str
    period: str  # YYYY-MM
    status: str  # draft | finalized | void
    currency: str
    lines: list[InvoiceLine]
    total: Decimal


class InvoiceUpdated(_InvoiceSnapshot):
    TYPE: ClassVar[str] = "metering.v1.invoice.updated"
    SUBJECT: ClassVar[str] = TYPE


class InvoiceFinalized(_InvoiceSnapshot):
    TYPE: ClassVar[str] = "metering.v1.invoice.finalized"
    SUBJECT: ClassVar[str] = TYPE

"""What the gateway stores: tenants, projects, keys, and the read models of jobs, nodes and invoices."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from services.gateway.domain.auth import Role
from shared.events.jobs import JobSpec, JobState
from shared.events.metering import InvoiceLine


def new_tenant_id() -> str:
    return f"tnt_{uuid.uuid4().hex[:12]}"


def new_project_id() -> str:
    return f"prj_{uuid.uuid4().hex[:12]}"


def new_job_id() -> str:
    return f"job_{uuid.uuid4().hex[:16]}"


def new_key_id() -> str:
    return f"key_{uuid.uuid4().hex[:12]}"


def new_grant_id() -> str:
    return f"crd_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class Project:
    project_id: str
    tenant_id: str
    name: str
    created_at: datetime
    # The highest priority class its jobs may name (None: the operator's default class).
    max_priority_class: str | None = None


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    tenant_id: str
    role: Role
    name: str
    key_hash: str
    created_at: datetime
    expires_at: datetime | None = None  # None: never
    last_used_at: datetime | None = None  # to a minute (LAST_USED_RESOLUTION)
    revoked_at: datetime | None = None
    # Rotated with a grace: the hash of the secret it had before, and until when that one still works.
    previous_key_hash: str | None = None
    previous_key_expires_at: datetime | None = None

    def refusal(self, presented_hash: str, now: datetime) -> str | None:
        """Why a request that presents the secret hashing to `presented_hash` is refused (None: it is not)."""
        if self.revoked_at is not None:
            return "the API key was revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "the API key expired"
        if presented_hash != self.key_hash and (
            presented_hash != self.previous_key_hash
            or self.previous_key_expires_at is None
            or now >= self.previous_key_expires_at
        ):
            return "the API key was rotated; use its new secret"
        return None


@dataclass(frozen=True)
class Job:
    job_id: str
    tenant_id: str
    project_id: str
    spec: JobSpec
    state: JobState
    reason: str
    # The scheduler's version of the last change applied; 0 until the scheduler reports.
    version: int
    created_at: datetime
    updated_at: datetime
    cancel_requested_at: datetime | None = None
    idempotency_key: str | None = None
    request_fingerprint: str | None = None


@dataclass(frozen=True)
class Node:
    node_id: str
    state: str  # ready | lost
    gpu_model: str
    gpu_count: int
    # occurred_at of the change applied last, so a late older change is ignored.
    changed_at: datetime

    @property
    def is_ready(self) -> bool:
        return self.state == "ready"


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    tenant_id: str
    period: str
    status: str  # draft | finalized | void
    currency: str
    lines: tuple[InvoiceLine, ...]
    total: Decimal
    # True once a metering.v1.invoice.finalized (or .voided) snapshot arrived: drafts never replace it.
    final: bool
    snapshot_at: datetime
    revision: int = 1  # 2, 3, ... replace voided invoices of the period
    replaces: str | None = None  # the voided invoice this one replaces
    subtotal: Decimal | None = None  # before prepaid credit (None: snapshots without credit)
    credit_applied: Decimal = Decimal(0)
    void_reason: str | None = None

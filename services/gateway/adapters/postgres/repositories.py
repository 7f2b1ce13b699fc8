"""PostgreSQL repositories of the gateway schema; each works on the connection of one open transaction."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.gateway.app.ports import JobQuery
from services.gateway.domain.model import Invoice, Job, Node, Project, Tenant
from shared.events.gateway import PriceBookSet
from shared.events.jobs import JobSpec, JobState
from shared.events.metering import InvoiceLine

# Keyset condition after ($2, $3) in (created_at, <id>) order; no key ($2 NULL): from the first row.
_AFTER_TIME_ID = "($2::timestamptz IS NULL OR (created_at, {id}) > ($2, $3::text))"


def _lock(for_update: bool) -> str:
    return " FOR UPDATE" if for_update else ""


class PgTenants:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, tenant: Tenant) -> None:
        await self._conn.execute(
            "INSERT INTO tenants (tenant_id, name, currency, created_at) VALUES ($1, $2, $3, $4)",
            tenant.tenant_id,
            tenant.name,
            tenant.currency,
            tenant.created_at,
        )

    async def get(self, tenant_id: str) -> Tenant | None:
        row = await self._conn.fetchrow("SELECT * FROM tenants WHERE tenant_id = $1", tenant_id)
        return _tenant(row) if row else None

    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Tenant]:
        rows = await self._conn.fetch(
            "SELECT * FROM tenants WHERE ($1::text IS NULL OR tenant_id = $1) "
            f"AND {_AFTER_TIME_ID.format(id='tenant_id')} ORDER BY created_at, tenant_id LIMIT $4",
            tenant_id,
            *(after or (None, None)),
            limit,
        )
        return [_tenant(row) for row in rows]


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(row["tenant_id"], row["name"], row["currency"], row["created_at"])


class PgProjects:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, project: Project) -> bool:
        inserted = await self._conn.fetchval(
            "INSERT INTO projects (project_id, tenant_id, name, created_at, max_priority_class)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING true",
            project.project_id,
            project.tenant_id,
            project.name,
            project.created_at,
            project.max_priority_class,
        )
        return bool(inserted)

    async def get(self, project_id: str) -> Project | None:
        row = await self._conn.fetchrow("SELECT * FROM projects WHERE project_id = $1", project_id)
        return _project(row) if row else None

    async def list(
        self, tenant_id: str | None, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[Project]:
        rows = await self._conn.fetch(
            "SELECT * FROM projects WHERE ($1::text IS NULL OR tenant_id = $1) "
            f"AND {_AFTER_TIME_ID.format(id='project_id')} ORDER BY created_at, project_id LIMIT $4",
            tenant_id,
            *(after or (None, None)),
            limit,
        )
        return [_project(row) for row in rows]


def _project(row: asyncpg.Record) -> Project:
    return Project(
        row["project_id"], row["tenant_id"], row["name"], row["created_at"], row["max_priority_class"]
    )


class PgQuotas:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def set(self, project_id: str, quotas: dict[str, int], set_at: datetime) -> None:
        await self._conn.executemany(
            "INSERT INTO quotas (project_id, gpu_model, gpus, set_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (project_id, gpu_model) DO UPDATE SET gpus = EXCLUDED.gpus, set_at = EXCLUDED.set_at",
            [(project_id, model, gpus, set_at) for model, gpus in sorted(quotas.items())],
        )

    async def of_project(self, project_id: str) -> dict[str, int]:
        rows = await self._conn.fetch(
            "SELECT gpu_model, gpus FROM quotas WHERE project_id = $1 ORDER BY gpu_model", project_id
        )
        return {row["gpu_model"]: row["gpus"] for row in rows}


class PgPriceBooks:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, version: PriceBookSet) -> None:
        await self._conn.execute(
            "INSERT INTO price_books (tenant_id, effective_from, set_at, event) VALUES ($1, $2, $3, $4)",
            version.tenant_id,
            version.effective_from or version.occurred_at,
            version.occurred_at,
            version.model_dump(mode="json"),
        )

    async def in_force(self, tenant_id: str, at: datetime) -> PriceBookSet | None:
        row = await self._conn.fetchrow(
            "SELECT event FROM price_books WHERE tenant_id = $1 AND effective_from <= $2 "
            "ORDER BY effective_from DESC, set_at DESC LIMIT 1",
            tenant_id,
            at,
        )
        return PriceBookSet.model_validate(row["event"]) if row else None


class PgJobs:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def add(self, job: Job) -> bool:
        inserted = await self._conn.fetchval(
            """
            INSERT INTO jobs (job_id, tenant_id, project_id, spec, state, reason, version, created_at,
                              updated_at, cancel_requested_at, idempotency_key, request_fingerprint)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING true
            """,
            job.job_id,
            job.tenant_id,
            job.project_id,
            job.spec.model_dump(mode="json"),
            job.state.value,
            job.reason,
            job.version,
            job.created_at,
            job.updated_at,
            job.cancel_requested_at,
            job.idempotency_key,
            job.request_fingerprint,
        )
        return bool(inserted)

    async def get(self, job_id: str, *, for_update: bool = False) -> Job | None:
        row = await self._conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1" + _lock(for_update), job_id)
        return _job(row) if row else None

    async def find_by_idempotency_key(self, tenant_id: str, key: str) -> Job | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM jobs WHERE tenant_id = $1 AND idempotency_key = $2", tenant_id, key
        )
        return _job(row) if row else None

    async def list(self, query: JobQuery) -> list[Job]:
        conditions: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if query.tenant_id is not None:
            conditions.append(f"tenant_id = {arg(query.tenant_id)}")
        if query.project_id is not None:
            conditions.append(f"project_id = {arg(query.project_id)}")
        if query.state is not None:
            conditions.append(f"state = {arg(query.state.value)}")
        if query.after is not None:
            # Row comparison matches the (created_at DESC, job_id DESC) indexes: a true keyset seek.
            conditions.append(
                f"(created_at, job_id) < ({arg(query.after.created_at)}, {arg(query.after.job_id)})"
            )
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self._conn.fetch(
            f"SELECT * FROM jobs {where} ORDER BY created_at DESC, job_id DESC LIMIT {arg(query.limit)}",
            *args,
        )
        return [_job(row) for row in rows]

    async def save(self, job: Job) -> None:
        await self._conn.execute(
            "UPDATE jobs SET state = $2, reason = $3, version = $4, updated_at = $5, cancel_requested_at = $6 "
            "WHERE job_id = $1",
            job.job_id,
            job.state.value,
            job.reason,
            job.version,
            job.updated_at,
            job.cancel_requested_at,
        )


def _job(row: asyncpg.Record) -> Job:
    return Job(
        job_id=row["job_id"],
        tenant_id=row["tenant_id"],
        project_id=row["project_id"],
        spec=JobSpec.model_validate(row["spec"]),
        state=JobState(row["state"]),
        reason=row["reason"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cancel_requested_at=row["cancel_requested_at"],
        idempotency_key=row["idempotency_key"],
        request_fingerprint=row["request_fingerprint"],
    )


class PgNodes:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, node_id: str, *, for_update: bool = False) -> Node | None:
        row = await self._conn.fetchrow("SELECT * FROM nodes WHERE node_id = $1" + _lock(for_update), node_id)
        return _node(row) if row else None

    async def save(self, node: Node) -> None:
        await self._conn.execute(
            "INSERT INTO nodes (node_id, state, gpu_model, gpu_count, changed_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (node_id) DO UPDATE SET state = EXCLUDED.state, gpu_model = EXCLUDED.gpu_model, "
            "gpu_count = EXCLUDED.gpu_count, changed_at = EXCLUDED.changed_at",
            node.node_id,
            node.state,
            node.gpu_model,
            node.gpu_count,
            node.changed_at,
        )

    async def list(self, after: str | None = None, limit: int | None = None) -> list[Node]:
        rows = await self._conn.fetch(
            "SELECT * FROM nodes WHERE $1::text IS NULL OR node_id > $1 ORDER BY node_id LIMIT $2",
            after,
            limit,
        )
        return [_node(row) for row in rows]


def _node(row: asyncpg.Record) -> Node:
    return Node(row["node_id"], row["state"], row["gpu_model"], row["gpu_count"], row["changed_at"])


class PgInvoices:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM invoices WHERE invoice_id = $1" + _lock(for_update), invoice_id
        )
        return _invoice(row) if row else None

    async def save(self, invoice: Invoice) -> None:
        await self._conn.execute(
            """
            INSERT INTO invoices (invoice_id, tenant_id, period, status, currency, lines, total, final, snapshot_at,
                revision, replaces, subtotal, credit_applied, void_reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
            ON CONFLICT (invoice_id) DO UPDATE SET period = EXCLUDED.period, status = EXCLUDED.status,
                currency = EXCLUDED.currency, lines = EXCLUDED.lines, total = EXCLUDED.total,
                final = EXCLUDED.final, snapshot_at = EXCLUDED.snapshot_at, revision = EXCLUDED.revision,
                replaces = EXCLUDED.replaces, subtotal = EXCLUDED.subtotal,
                credit_applied = EXCLUDED.credit_applied, void_reason = EXCLUDED.void_reason
            """,
            invoice.invoice_id,
            invoice.tenant_id,
            invoice.period,
            invoice.status,
            invoice.currency,
            [line.model_dump(mode="json") for line in invoice.lines],
            invoice.total,
            invoice.final,
            invoice.snapshot_at,
            invoice.revision,
            invoice.replaces,
            invoice.subtotal,
            invoice.credit_applied,
            invoice.void_reason,
        )

    async def list(
        self,
        tenant_id: str | None,
        period: str | None,
        after: tuple[str, str, str] | None = None,
        limit: int | None = None,
    ) -> list[Invoice]:
        rows = await self._conn.fetch(
            "SELECT * FROM invoices WHERE ($1::text IS NULL OR tenant_id = $1) "
            "AND ($2::text IS NULL OR period = $2) "
            # After (period, tenant, invoice) in (period DESC, tenant_id, invoice_id) order.
            "AND ($3::text IS NULL OR period < $3 OR (period = $3 AND (tenant_id, invoice_id) > ($4, $5))) "
            "ORDER BY period DESC, tenant_id, invoice_id LIMIT $6",
            tenant_id,
            period,
            *(after or (None, None, None)),
            limit,
        )
        return [_invoice(row) for row in rows]


def _invoice(row: asyncpg.Record) -> Invoice:
    return Invoice(
        invoice_id=row["invoice_id"],
        tenant_id=row["tenant_id"],
        period=row["period"],
        status=row["status"],
        currency=row["currency"],
        lines=tuple(InvoiceLine.model_validate(line) for line in row["lines"]),
        total=Decimal(row["total"]),
        final=row["final"],
        snapshot_at=row["snapshot_at"],
        revision=row["revision"],
        replaces=row["replaces"],
        subtotal=row["subtotal"],
        credit_applied=row["credit_applied"],
        void_reason=row["void_reason"],
    )

"""The store port on PostgreSQL: one shared-db transaction (state plus outbox) per unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from services.gateway.adapters.postgres.audit_log import PgAuditLog
from services.gateway.adapters.postgres.key_repository import PgApiKeys
from services.gateway.adapters.postgres.repositories import (
    PgInvoices,
    PgJobs,
    PgNodes,
    PgPriceBooks,
    PgProjects,
    PgQuotas,
    PgTenants,
)
from services.gateway.app.ports import GatewayUnitOfWork
from shared.db.pool import Database, Tx
from shared.events.base import Event


class PgUnitOfWork:
    """Repositories over one open transaction; also wraps a consumer handler's transaction."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.tenants = PgTenants(tx.conn)
        self.api_keys = PgApiKeys(tx.conn)
        self.projects = PgProjects(tx.conn)
        self.jobs = PgJobs(tx.conn)
        self.nodes = PgNodes(tx.conn)
        self.invoices = PgInvoices(tx.conn)
        self.quotas = PgQuotas(tx.conn)
        self.price_books = PgPriceBooks(tx.conn)
        self.audit = PgAuditLog(tx.conn)

    async def emit(self, event: Event) -> None:
        await self._tx.emit(event)

    async def emit_all(self, events: list[Event]) -> None:
        await self._tx.emit_all(events)


class PgGatewayStore:
    """The database is looked up at each transaction: the service host creates it only when it starts."""

    def __init__(self, database: Callable[[], Database]) -> None:
        self._database = database

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[GatewayUnitOfWork]:
        async with self._database().transaction() as tx:
            yield PgUnitOfWork(tx)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[GatewayUnitOfWork]:
        async with self._database().reading() as tx:
            yield PgUnitOfWork(tx)

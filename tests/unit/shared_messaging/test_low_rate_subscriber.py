"""A low-rate durable on FastStream's subscriber, driven by FastStream's in-memory test broker: each
event reaches the handler of its own type once, and bad input is dead-lettered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from faststream.nats import NatsBroker, TestNatsBroker

from shared.db.pool import Tx
from shared.events.base import Event
from shared.events.gateway import ProjectCreated, TenantCreated
from shared.messaging.routes import Route
from shared.messaging.specs import consumer
from shared.messaging.subscriber import LowRateConsumer
from tests.unit.shared_messaging.fakes import FakeConnection, fake_database

DURABLE = "ingest-tenants"


class UnknownTenant(Exception):
    pass


@dataclass
class Seen:
    events: list[Event] = field(default_factory=list)

    async def tenant(self, tx: Tx, event: TenantCreated) -> None:
        if event.name == "refused":
            raise UnknownTenant(f"tenant {event.tenant_id} refused")
        self.events.append(event)

    async def project(self, tx: Tx, event: ProjectCreated) -> None:
        self.events.append(event)


@dataclass
class Bus:
    broker: NatsBroker
    seen: Seen
    conn: FakeConnection

    async def publish(self, event: Event, body: bytes | None = None) -> None:
        data = event.model_dump_json().encode() if body is None else body
        await self.broker.publish(data, subject=event.subject(), headers=event.headers())


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    seen = Seen()
    db, conn = fake_database()
    spec = consumer(
        DURABLE,
        Route(TenantCreated, seen.tenant, rejects=(UnknownTenant,)),
        Route(ProjectCreated, seen.project),
        max_deliveries=3,
        low_rate=True,
    )
    broker = NatsBroker()
    LowRateConsumer(broker, js=None, db=db, spec=spec)  # type: ignore[arg-type]  # the test broker needs none
    async with TestNatsBroker(broker) as test_broker:
        yield Bus(test_broker, seen, conn)


def tenant(name: str = "acme") -> TenantCreated:
    return TenantCreated(occurred_at=datetime.now(UTC), tenant_id=f"t-{name}", name=name, currency="EUR")


async def test_each_event_reaches_the_handler_of_its_type(bus: Bus) -> None:
    created = tenant()
    project = ProjectCreated(occurred_at=datetime.now(UTC), tenant_id="t-acme", project_id="p1", name="web")

    await bus.publish(created)
    await bus.publish(project)

    assert bus.seen.events == [created, project]
    assert bus.conn.dead_letters == []


async def test_a_redelivered_event_has_no_second_effect(bus: Bus) -> None:
    created = tenant()

    await bus.publish(created)
    await bus.publish(created)

    assert bus.seen.events == [created]


async def test_a_rejected_event_is_dead_lettered_with_the_reason(bus: Bus) -> None:
    await bus.publish(tenant("refused"))

    assert bus.seen.events == []
    assert bus.conn.dead_letters == [(DURABLE, "rejected: tenant t-refused refused")]


async def test_a_malformed_event_is_dead_lettered_without_reaching_a_handler(bus: Bus) -> None:
    await bus.publish(tenant(), body=b"{not json")

    assert bus.seen.events == []
    assert [consumer for consumer, _ in bus.conn.dead_letters] == [DURABLE]
    assert bus.conn.dead_letters[0][1].startswith("invalid gateway.v1.tenant.created")

"""Malformed messages on every durable consumer's subjects are dead-lettered with a reason, and the consumer
goes on (docs/architecture.md: a bad message never stops the factory for others).

The consumers are derived from each service's own wiring, so a new durable is covered without editing this
test. Only malformed messages are published: no valid business event, so no state other tests rely on moves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from services.gateway.adapters.consumers import gateway_consumers
from services.ingest.adapters.consumers import ingest_consumers, sample_consumer
from services.metering.billing_events_consumers import billing_event_consumers
from services.metering.consumers import metering_consumers, usage_consumers
from services.metering.usage.domain.checks import UsageLimits
from services.scheduler.adapters.consumers import scheduler_consumers
from shared.clock import SystemClock
from shared.infra.launcher import Factory
from shared.messaging.specs import AnyConsumerSpec, BatchConsumerSpec

WAIT_S = 30.0


def _specs() -> list[tuple[str, AnyConsumerSpec]]:
    """(schema, spec) for every durable of the four services, as their main modules wire them (the
    arguments only shape handlers, never the durable, its subjects or its event types)."""
    clock, unused = SystemClock(), cast(Any, None)
    specs: list[tuple[str, AnyConsumerSpec]] = []
    specs += [("gateway", spec) for spec in gateway_consumers(5)]
    specs += [("scheduler", spec) for spec in scheduler_consumers(5)]
    specs += [("ingest", spec) for spec in ingest_consumers(5)]
    specs += [("ingest", sample_consumer(unused, unused, 5, 1))]
    specs += [("metering", spec) for spec in metering_consumers(clock, 5, UsageLimits())]
    specs += [("metering", spec) for spec in usage_consumers(clock, 5, UsageLimits(), batch_size=1, copies=1)]
    specs += [("metering", spec) for spec in billing_event_consumers(clock, 5)]
    return specs


def _routed(spec: AnyConsumerSpec) -> tuple[str, str]:
    """(subject, ce-type) of one routed event type, a placeholder (`*`) filled with a made-up token."""
    event_type = (
        spec.route.event_types[0] if isinstance(spec, BatchConsumerSpec) else spec.routes[0].event_type
    )
    subject = ".".join(
        "poison" if token == "*" else token for token in event_type.subject_filter().split(".")
    )
    return subject, event_type.TYPE


@dataclass
class Poison:
    schema: str
    durable: str
    stream: str
    msg_id: str
    expected: tuple[str, ...]  # what the reason must name (lowercase)
    seq: int = 0


def _poisons(schema: str, spec: AnyConsumerSpec, ce_type: str) -> list[tuple[Poison, bytes, dict[str, str]]]:
    def one(body: bytes, headers: dict[str, str], *expected: str) -> tuple[Poison, bytes, dict[str, str]]:
        msg_id = str(uuid.uuid4())
        poison = Poison(schema, spec.durable, spec.stream_name, msg_id, expected)
        return poison, body, {**headers, "Nats-Msg-Id": msg_id}

    return [
        one(b"\xff not json {", {"ce-type": ce_type}, "invalid", "json"),
        one(b'{"unexpected": [1, 2, 3]}', {"ce-type": ce_type}, f"invalid {ce_type}".lower()),
        one(b'{"unexpected": true}', {}, "ce-type"),
    ]


async def _eventually(check: Callable[[], Awaitable[list[str]]], what: str) -> None:
    """Until `check` finds no problem; fails with the problems left after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        problems = await check()
        if not problems:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} after {WAIT_S}s:\n" + "\n".join(problems))
        await asyncio.sleep(0.2)


async def test_malformed_messages_are_dead_lettered_with_a_reason_and_every_consumer_goes_on(
    factory: Factory,
) -> None:
    specs = _specs()
    assert {spec.durable for _, spec in specs} >= {
        "gateway-jobs",
        "scheduler-jobs",
        "ingest-usage",
        "metering-usage",
    }
    nc = await nats.connect(factory.nats_url)
    db = await asyncpg.connect(factory.database_url)
    try:
        js: JetStreamContext = nc.jetstream()
        poisons: list[Poison] = []
        for schema, spec in specs:
            subject, ce_type = _routed(spec)
            for poison, body, headers in _poisons(schema, spec, ce_type):
                poison.seq = (await js.publish(subject, body, headers=headers)).seq
                poisons.append(poison)

        async def missing_dead_letters() -> list[str]:
            problems = []
            for poison in poisons:
                reason = await db.fetchval(
                    f"SELECT reason FROM {poison.schema}.dead_letters WHERE consumer = $1 AND event_id = $2",
                    poison.durable,
                    poison.msg_id,
                )
                if reason is None or not all(word in reason.lower() for word in poison.expected):
                    problems.append(f"{poison.durable}: {poison.expected} -> dead letter reason {reason!r}")
            return problems

        async def stuck_consumers() -> list[str]:
            problems = []
            for durable, stream in sorted({(p.durable, p.stream) for p in poisons}):
                last = max(p.seq for p in poisons if p.durable == durable)
                info = await js.consumer_info(stream, durable)
                floor = info.ack_floor.stream_seq if info.ack_floor else 0
                if (floor or 0) < last or info.num_ack_pending or info.num_pending:
                    problems.append(
                        f"{durable}: ack floor {floor} (poison up to {last}), "
                        f"{info.num_ack_pending} unacked, {info.num_pending} pending"
                    )
            return problems

        await _eventually(missing_dead_letters, "malformed messages not dead-lettered with their reason")
        await _eventually(stuck_consumers, "consumers not past the malformed messages")
    finally:
        await db.close()
        await nc.close()

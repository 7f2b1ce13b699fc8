"""What the chaos run reads from the factory's servers at the end: how far each durable consumer is
behind, which messages were dead-lettered; and the malformed messages it publishes on purpose."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import nats

from services.scheduler.adapters.lease import LEASE_BUCKET
from shared.events.agent import WorkloadExited
from shared.events.gateway import PriceBookSet, TenantCreated
from shared.messaging.broker import nats_servers
from shared.messaging.patience import patiently
from shared.messaging.streams import ALL_STREAMS

SCHEMAS = ("gateway", "scheduler", "ingest", "metering")
# One malformed message per subject, each a different kind of wrong.
POISONS = (
    (WorkloadExited, b"\xff not json {"),
    (PriceBookSet, b'{"unexpected": [1, 2, 3]}'),
    (TenantCreated, b'{"tenant_id": 7}'),
)


def publish_poison(nats_url: str) -> list[str]:
    """Publish the malformed messages; their ids (Nats-Msg-Id), which dead letters carry."""

    async def publish() -> list[str]:
        connection = await nats.connect(servers=nats_servers(nats_url))
        try:
            js = connection.jetstream()
            ids = []
            for event_type, body in POISONS:
                subject = event_type.subject_filter().replace("*", "poison")
                msg_id = str(uuid.uuid4())
                headers = {"ce-type": event_type.TYPE, "Nats-Msg-Id": msg_id}
                # A NATS server may be down meanwhile: the same id again is de-duplicated by the stream.
                await patiently(lambda s=subject, b=body, h=headers: js.publish(s, b, headers=h), "poison")
                ids.append(msg_id)
            return ids
        finally:
            await connection.close()

    return asyncio.run(publish())


def consumers_behind(nats_url: str) -> list[str]:
    """Each durable consumer with messages not yet delivered or not yet acknowledged."""

    async def look() -> list[str]:
        connection = await nats.connect(servers=nats_servers(nats_url))
        try:
            js = connection.jetstream()
            behind = []
            for stream in ALL_STREAMS:
                for info in await js.consumers_info(stream.name):
                    if info.config.durable_name and (info.num_pending or info.num_ack_pending):
                        behind.append(
                            f"{stream.name}/{info.name}: {info.num_pending} pending, "
                            f"{info.num_ack_pending} unacknowledged"
                        )
            return behind
        finally:
            await connection.close()

    return asyncio.run(look())


def streams_with_fewer_copies(nats_url: str, copies: int) -> list[str]:
    """Each of the factory's streams (and the scheduler's lease bucket) kept in fewer than `copies`."""

    async def look() -> list[str]:
        connection = await nats.connect(servers=nats_servers(nats_url))
        try:
            js = connection.jetstream()
            fewer = []
            for name in (*(stream.name for stream in ALL_STREAMS), f"KV_{LEASE_BUCKET}"):
                replicas = (await js.stream_info(name)).config.num_replicas or 1
                if replicas < copies:
                    fewer.append(f"{name}: {replicas} copies")
            return fewer
        finally:
            await connection.close()

    return asyncio.run(look())


def dead_letter_ids(database_url: str) -> list[tuple[str, str, str]]:
    """(event id, consumer, reason) of every dead letter in every service's schema."""

    async def read() -> list[tuple[str, str, str]]:
        connection = await asyncpg.connect(database_url)
        try:
            found = []
            for schema in SCHEMAS:
                rows = await connection.fetch(f"SELECT event_id, consumer, reason FROM {schema}.dead_letters")
                found += [(str(row["event_id"]), row["consumer"], row["reason"]) for row in rows]
            return found
        finally:
            await connection.close()

    return asyncio.run(read())

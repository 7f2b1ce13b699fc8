"""Sample records published straight to JetStream, many to a message, inside the sample consumer's
transaction.

The outbox hop (a row per record written, read back, published, deleted) cost ingest more than the
records themselves. Here the records are published, all acks awaited, before the batch commits: a
crash between publish and commit redelivers the samples, and their records go out again under the same
event ids (domain/records.py derives them from the sample's natural key), which metering keeps once (its
raw usage table's unique event id; JetStream drops a batch only when it is resent whole). Were the records
published after commit instead, a crash in between would lose them: the claimed sample keys would turn the redelivery
into nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from nats.js import JetStreamContext

from services.ingest.adapters.postgres import PgIngestStore
from services.ingest.domain.records import record_batches
from shared.db.pool import Tx
from shared.events.ingest import UsageRecorded
from shared.telemetry import current_traceparent

ACK_TIMEOUT_S = 10.0


class PublishingIngestStore(PgIngestStore):
    """PgIngestStore whose records skip the outbox: published before the transaction commits."""

    def __init__(self, tx: Tx, js: JetStreamContext, ack_timeout_s: float = ACK_TIMEOUT_S) -> None:
        super().__init__(tx)
        self._js = js
        self._ack_timeout_s = ack_timeout_s

    async def emit_all(self, records: Sequence[UsageRecorded]) -> None:
        if not records:
            return
        traceparent = current_traceparent()
        # Pipelined: every batch goes out in order, then all acks are awaited together.
        acks = [
            await self._js.publish_async(
                batch.subject(), batch.model_dump_json().encode(), headers=batch.headers(traceparent)
            )
            for batch in record_batches(records)
        ]
        await asyncio.wait_for(asyncio.gather(*acks), timeout=self._ack_timeout_s)

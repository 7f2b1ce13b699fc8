"""How long processed_events rows are kept, and the task that prunes older ones.

A consumer drops a redelivered event by its row in processed_events (docs/architecture.md, section 3,
guarantee 2). A copy can come back as long as the event is in its stream: an unacked message is
redelivered until it ages out (the stream's max_age), and a copy the outbox relay republished after
JetStream's duplicate window can be read until it ages out in turn. So a row is kept at least as long as
the longest-lived stream keeps messages, plus its duplicate window, read from the server (an operator
may have raised them); a stream that keeps messages forever means rows are kept forever too.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta

from nats.js import JetStreamContext

from shared.clock import Clock
from shared.db.pool import Database
from shared.messaging.streams import ALL_STREAMS

log = logging.getLogger(__name__)


async def redelivery_horizon_s(js: JetStreamContext) -> float:
    """The longest a stream keeps a message (max_age; 0 is forever: inf) plus its duplicate window."""
    horizon = 0.0
    for stream in ALL_STREAMS:
        config = (await js.stream_info(stream.name)).config
        age = config.max_age or math.inf
        horizon = max(horizon, age + (config.duplicate_window or 0))
    return horizon


def prune_before(now: datetime, retention_s: float, horizon_s: float) -> datetime | None:
    """Rows processed before this instant may go (None: keep every row): the longer of the setting and
    the horizon, so a setting below what the streams can redeliver never drops a row still needed."""
    keep_s = max(retention_s, horizon_s)
    return None if math.isinf(keep_s) else now - timedelta(seconds=keep_s)


async def prune_processed_events(db: Database, before: datetime) -> int:
    """Delete the rows processed before `before`; how many went."""
    # One statement, one pass over the table per round: batches by ctid would rescan what earlier
    # batches left dead.
    async with db.transaction() as tx:
        status = await tx.conn.execute("DELETE FROM processed_events WHERE processed_at < $1", before)
    return int(status.split()[-1])


async def prune_forever(
    db: Database, js: JetStreamContext, clock: Clock, retention_s: float, interval_s: float
) -> None:
    """The ServiceHost's background task: one round per interval; a failed round is retried next time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            before = prune_before(clock.now(), retention_s, await redelivery_horizon_s(js))
            if before is None:
                log.info("a stream keeps messages forever: processed_events are kept forever too")
                continue
            removed = await prune_processed_events(db, before)
        except Exception:
            log.exception("pruning processed_events failed; retrying next round")
        else:
            log.info("pruned %d processed_events rows older than %s", removed, before.isoformat())

"""An independent check of GPU-time billing: recompute each invoice's GPU-hour lines from the
allocation intervals the scheduler published and the price book, by the documented rule (per started
second, rounded once per line), without any of metering's code."""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

import nats
from nats.js.api import DeliverPolicy

from shared.events.base import Event
from shared.events.scheduler import AllocationReleased
from shared.messaging.broker import nats_servers

E = TypeVar("E", bound=Event)

MINOR_UNITS = {"JPY": 0, "KRW": 0, "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2}


async def read_events(nats_url: str, event_type: type[E], stream: str = "SCHEDULER") -> list[E]:
    """Every event of one type in a stream, read with a throwaway ordered consumer."""
    connection = await nats.connect(servers=nats_servers(nats_url))
    try:
        js = connection.jetstream()
        info = await js.stream_info(stream)
        if info.state.messages == 0:
            return []
        subscription = await js.subscribe(
            event_type.subject_filter(), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        events: list[E] = []
        while True:
            try:
                msg = await subscription.next_msg(timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                return events
            events.append(event_type.model_validate_json(msg.data))
    finally:
        await connection.close()


def read_released_allocations(nats_url: str) -> list[AllocationReleased]:
    return asyncio.run(read_events(nats_url, AllocationReleased))


def gpu_seconds_by_line(released: list[AllocationReleased], tenant_id: str) -> dict[tuple[str, str], Decimal]:
    """(project, GPU model) -> billable GPU-seconds: each allocation per started second × its GPUs × its
    share of each GPU (exact: a share has at most 3 decimals)."""
    gpu_seconds: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for allocation in released:
        if allocation.tenant_id != tenant_id:
            continue
        seconds = math.ceil((allocation.released_at - allocation.bound_at).total_seconds())
        share_seconds = Decimal(seconds * allocation.gpu_count) * allocation.gpu_share
        gpu_seconds[(allocation.project_id, allocation.gpu_model)] += share_seconds
    return dict(gpu_seconds)


def expected_gpu_lines(
    released: list[AllocationReleased], tenant_id: str, gpu_hour_prices: dict[str, Decimal], currency: str
) -> dict[tuple[str, str], Decimal]:
    """(project, GPU model) -> amount, for one tenant, rounded once per line."""
    quantum = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
    return {
        key: (Decimal(seconds) / 3600 * gpu_hour_prices[key[1]]).quantize(quantum, ROUND_HALF_UP)
        for key, seconds in gpu_seconds_by_line(released, tenant_id).items()
    }


def invoice_gpu_lines(invoice: dict[str, object]) -> dict[tuple[str, str], Decimal]:
    lines = invoice["lines"]
    assert isinstance(lines, list)
    return {
        (line["project_id"], line["gpu_model"]): Decimal(str(line["amount"]))
        for line in lines
        if line["meter"] == "gpu_hours"
    }

"""What a service declares about each durable consumer, and `consumer()`, the one way to declare it.

    consumer("gateway-jobs", Route(JobStateChanged, on_job_state, rejects=(RejectedEvent,)), max_deliveries=5)

The filter subject is the narrowest one covering the routes' own subjects and the stream is the one
that holds it, so neither is written by hand. Routes that share a durable are handled in stream order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, overload

from shared.messaging.routes import BatchRoute, Route, covering_subject
from shared.messaging.streams import StreamDef, stream_for_subject


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable handled one message (or one backlog) per transaction."""

    durable: str  # <consumer>-<purpose>
    routes: tuple[Route[Any], ...]
    batch_size: int = 50
    max_deliveries: int = 5
    # A durable that sees a few messages a minute runs as a FastStream subscriber; the others keep the
    # raw pull loop, ten times faster on a backlog (the figures: shared/messaging/subscriber.py).
    low_rate: bool = False

    def __post_init__(self) -> None:
        types = [route.event_type for route in self.routes]
        if len(set(types)) != len(types):
            raise ValueError(f"{self.durable}: an event type routed twice")
        stream_for_subject(self.subject)  # routes from two streams on one durable fail here

    @property
    def subject(self) -> str:
        return covering_subject(route.subject for route in self.routes)

    @property
    def stream(self) -> StreamDef:
        return stream_for_subject(self.subject)

    @property
    def stream_name(self) -> str:
        return self.stream.name


@dataclass(frozen=True)
class BatchConsumerSpec:
    """A high-volume durable: a batch of events per transaction (shared/messaging/batch_consumer.py)."""

    durable: str
    route: BatchRoute[Any]
    batch_size: int = 500
    max_deliveries: int = 5
    # False for a handler that dedupes on a key of its own (a natural key, stronger than the event id):
    # recording each event id as well would only add a row per event.
    dedupe_by_event_id: bool = True

    def __post_init__(self) -> None:
        stream_for_subject(self.subject)

    @property
    def subject(self) -> str:
        return covering_subject(event_type.subject_filter() for event_type in self.route.event_types)

    @property
    def stream_name(self) -> str:
        return stream_for_subject(self.subject).name

    def single(self) -> ConsumerSpec:
        """The same consumer, one message at a time (the fallback that isolates a poison message)."""
        return ConsumerSpec(
            durable=self.durable, routes=self.route.routes(), max_deliveries=self.max_deliveries
        )


AnyConsumerSpec = ConsumerSpec | BatchConsumerSpec


@overload
def consumer(
    durable: str,
    route: BatchRoute[Any],
    /,
    *,
    max_deliveries: int,
    batch_size: int = 500,
    dedupe_by_event_id: bool = True,
) -> BatchConsumerSpec: ...
@overload
def consumer(
    durable: str, /, *routes: Route[Any], max_deliveries: int, batch_size: int = 50, low_rate: bool = False
) -> ConsumerSpec: ...
def consumer(
    durable: str,
    /,
    *routes: Route[Any] | BatchRoute[Any],
    max_deliveries: int,
    batch_size: int | None = None,
    dedupe_by_event_id: bool = True,
    low_rate: bool = False,
) -> AnyConsumerSpec:
    """A durable consumer of these routes (or of one batch route)."""
    if len(routes) == 1 and isinstance(routes[0], BatchRoute):
        return BatchConsumerSpec(
            durable,
            routes[0],
            batch_size=batch_size or 500,
            max_deliveries=max_deliveries,
            dedupe_by_event_id=dedupe_by_event_id,
        )
    singles = tuple(route for route in routes if isinstance(route, Route))
    if len(singles) != len(routes):
        raise TypeError(f"{durable}: a batch route is a consumer's only route")
    return ConsumerSpec(
        durable, singles, batch_size=batch_size or 50, max_deliveries=max_deliveries, low_rate=low_rate
    )

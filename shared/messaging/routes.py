"""Typed message routes: which handler takes which event, checked by mypy.

A `Route[E]` pairs an event class with a handler for exactly that class (`Callable[[Tx, E], ...]`), so
mypy refuses a handler for event B wired to event A. Subjects are never written by hand: a route listens
on its event class's own subject, and a consumer's filter subject is the narrowest one that covers its
routes (`covering_subject`). `rejects` names the exceptions that mean "this input can never succeed":
the consumer dead-letters the message at once with the error as the reason instead of retrying it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from pydantic import ValidationError

from shared.db.pool import Tx
from shared.events.base import Event

E = TypeVar("E", bound=Event)
E2 = TypeVar("E2", bound=Event)
Store = TypeVar("Store")

Rejections = tuple[type[Exception], ...]


class PermanentError(Exception):
    """A message that can never succeed (for example, it refers to something that cannot exist)."""


@dataclass(frozen=True)
class Route(Generic[E]):
    """Events of `event_type`, from that type's subject, to `handler` in the consumer's transaction."""

    event_type: type[E]
    handler: Callable[[Tx, E], Awaitable[None]]
    rejects: Rejections = ()

    @property
    def subject(self) -> str:
        return self.event_type.subject_filter()

    def is_rejection(self, error: Exception) -> bool:
        return isinstance(error, (PermanentError, *self.rejects))


def use_case_route(
    event_type: type[E],
    store: Callable[[Tx], Store],
    use_case: Callable[[Store, E], Awaitable[object]],
    *,
    rejects: Rejections = (),
) -> Route[E]:
    """A route that runs a use case on a store built over the consumer's transaction (what it returns,
    such as "applied or not", is of no interest to the bus)."""

    async def handle(tx: Tx, event: E) -> None:
        await use_case(store(tx), event)

    return Route(event_type, handle, rejects)


@dataclass(frozen=True)
class BatchRoute(Generic[E]):
    """Events of a few types, many at a time, to one handler (the high-volume streams)."""

    event_types: tuple[type[Event], ...]
    handler: Callable[[Tx, list[E]], Awaitable[None]]
    rejects: Rejections = ()

    def routes(self) -> tuple[Route[Any], ...]:
        """Each event type as a route of its own, one event per call (the fallback that isolates a
        poison message)."""

        async def one(tx: Tx, event: E) -> None:
            await self.handler(tx, [event])

        return tuple(Route(event_type, one, self.rejects) for event_type in self.event_types)


# A batch handler names the union of its event types (list is invariant: a TypeVar bound to both types
# would widen to their common base and refuse the handler), hence one overload per arity.
@overload
def batch_route(
    first: type[E], /, *, handler: Callable[[Tx, list[E]], Awaitable[None]], rejects: Rejections = ()
) -> BatchRoute[E]: ...
@overload
def batch_route(
    first: type[E],
    second: type[E2],
    /,
    *,
    handler: Callable[[Tx, list[E | E2]], Awaitable[None]],
    rejects: Rejections = (),
) -> BatchRoute[E | E2]: ...
def batch_route(
    *event_types: type[Event], handler: Callable[[Tx, list[Any]], Awaitable[None]], rejects: Rejections = ()
) -> BatchRoute[Any]:
    return BatchRoute(event_types, handler, rejects)


def covering_subject(subjects: Iterable[str]) -> str:
    """The narrowest filter subject that matches every one of these (a token that differs becomes `*`;
    subjects of different lengths end in `>`)."""
    split = [subject.split(".") for subject in subjects]
    if not split:
        raise ValueError("a consumer needs at least one route")
    shortest = min(len(tokens) for tokens in split)
    same_length = all(len(tokens) == shortest for tokens in split)
    common = [
        column[0] if len(set(column)) == 1 else "*"
        for column in zip(
            *(tokens[: shortest if same_length else shortest - 1] for tokens in split), strict=True
        )
    ]
    return ".".join(common if same_length else [*common, ">"])


def find_route(routes: Sequence[Route[Any]], headers: Mapping[str, str]) -> Route[Any] | None:
    """The route for the message's event type, or None when no route takes it. Raises ValueError when the
    type is missing."""
    ce_type = _ce_type(headers)
    # A consumer routes a few types: a scan beats building a dict for every message.
    return next((routed for routed in routes if ce_type == routed.event_type.TYPE), None)


def parse_event(event_types: Sequence[type[E]], headers: Mapping[str, str], body: bytes) -> E | None:
    """The event in a message, or None when it is of none of these types. Raises ValueError when the
    type is missing or the body malformed."""
    ce_type = _ce_type(headers)
    event_type = next((known for known in event_types if ce_type == known.TYPE), None)
    return None if event_type is None else parse_body(event_type, body)


def parse_body(event_type: type[E], body: bytes) -> E:
    """The event in a message body. Raises ValueError when malformed."""
    try:
        return event_type.model_validate_json(body)
    except ValidationError as error:
        raise ValueError(f"invalid {event_type.TYPE}: {_describe(error)}") from error


def _ce_type(headers: Mapping[str, str]) -> str:
    ce_type = headers.get("ce-type")
    if ce_type is None:
        raise ValueError("missing ce-type header: the event type is unknown")
    return ce_type


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()[:5])

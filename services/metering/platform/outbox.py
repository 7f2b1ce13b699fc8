"""The outbox port the use cases emit events through."""

from __future__ import annotations

from typing import Protocol

from shared.events.base import Event


class EventOutbox(Protocol):
    """Events emitted here are published only if the transaction commits (shared Tx satisfies it)."""

    async def emit(self, event: Event) -> None: ...

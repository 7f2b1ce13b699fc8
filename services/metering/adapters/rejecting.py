"""How metering's consumers treat refused input: a RejectedInput is a PermanentError (dead-lettered at once,
with the reason); anything else is retried."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.metering.domain.errors import RejectedInput
from shared.db.pool import Tx
from shared.messaging.consumer import PermanentError

# A use case run with the transaction and the event(s).
TxHandler = Callable[[Tx, Any], Awaitable[Any]]


def rejecting(handle: TxHandler) -> Callable[[Tx, Any], Awaitable[None]]:
    async def run(tx: Tx, event: Any) -> None:
        try:
            await handle(tx, event)
        except RejectedInput as error:
            raise PermanentError(str(error)) from error

    return run

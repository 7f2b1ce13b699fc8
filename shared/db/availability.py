"""Whether an error means the database cannot be reached right now (restarting, failing over, network),
as opposed to a fault in the query: callers answer "try again" for the first, not "internal error"."""

from __future__ import annotations

from asyncpg.exceptions import (
    ConnectionDoesNotExistError,
    OperatorInterventionError,
    PostgresConnectionError,
)

_UNAVAILABLE = (
    PostgresConnectionError,  # SQLSTATE class 08: connection exceptions
    OperatorInterventionError,  # class 57: shutting down, starting up ("cannot connect now")
    ConnectionDoesNotExistError,  # the connection closed in the middle of a query
    ConnectionError,  # refused or reset: the server is not listening
)


def database_unavailable(error: BaseException) -> bool:
    return isinstance(error, _UNAVAILABLE)

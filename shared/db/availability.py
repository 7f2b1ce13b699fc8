"""Whether an error means the database cannot be reached right now (restarting, failing over, network),
as opposed to a fault in the query: callers answer "try again" for the first, not "internal error"."""

from __future__ import annotations

import errno

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
# A connect that fails at the socket: ENOENT is a Unix-domain socket whose server is down (the file is
# gone). Only errors without a file name: a file the code opened itself is no database's absence.
_SOCKET_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
    }
)


def database_unavailable(error: BaseException) -> bool:
    if isinstance(error, _UNAVAILABLE):
        return True
    return isinstance(error, OSError) and error.filename is None and error.errno in _SOCKET_ERRNOS

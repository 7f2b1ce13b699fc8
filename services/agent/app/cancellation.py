"""Loops that retry on errors must still end when cancelled.

Some libraries lose a cancellation: on Python 3.11, asyncio.wait_for returns the result when the
awaited future completes as the cancel arrives (nats-py publishes and fetches use it), and nats-py can
also turn a cancel into its TimeoutError or ConnectionClosedError. A loop that goes on after that never
stops, and the service's shutdown hangs waiting for it. The task still counts the cancel request, so
each loop checks it at the top of every turn and after every error it catches.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Re-raise a cancellation of the current task that a library swallowed."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

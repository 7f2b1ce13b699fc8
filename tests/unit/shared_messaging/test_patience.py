"""JetStream management calls are tried again while the cluster cannot answer, never on a refusal."""

from __future__ import annotations

import pytest
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import BadRequestError, ServiceUnavailableError

from shared.messaging import patience
from shared.messaging.patience import patiently


async def test_a_call_that_times_out_is_tried_again_until_it_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patience.asyncio, "sleep", _no_wait)
    failures = [NatsTimeoutError(), ServiceUnavailableError()]

    async def call() -> str:
        if failures:
            raise failures.pop(0)
        return "answered"

    assert await patiently(call, "test") == "answered"
    assert failures == []


async def test_a_refusal_is_raised_at_once() -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise BadRequestError()

    with pytest.raises(BadRequestError):
        await patiently(call, "test")
    assert calls == 1


async def test_after_its_time_the_last_time_out_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patience.asyncio, "sleep", _no_wait)

    async def call() -> None:
        raise NatsTimeoutError()

    with pytest.raises(NatsTimeoutError):
        await patiently(call, "test", for_s=0.0)


async def _no_wait(_: float) -> None:
    return None

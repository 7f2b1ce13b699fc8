"""Issue 11: a pool whose decision raises on some pending jobs sets those jobs aside (failed, with the
reason) and decides for the others; a fault that is not a few jobs' stands."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from services.scheduler.domain import pools
from services.scheduler.domain.engine.model import Snapshot
from services.scheduler.domain.model import Actions, SetAside, UsageHistory
from services.scheduler.domain.pools import MAX_SET_ASIDE, PoolDecider, PoolPolicies
from tests.unit.scheduler.builders import live, node, queued

real_decide = pools.decide


def raising_on(*poisoned: str) -> Any:
    """The engine, raising whenever a snapshot holds one of the poisoned jobs."""

    def decide(snapshot: Snapshot, *args: Any, **kwargs: Any) -> Any:
        bad = [j.job_id for j in snapshot.pending if j.job_id in poisoned]
        if bad:
            raise OverflowError(f"cannot convert {bad[0]}'s float infinity to integer")
        return real_decide(snapshot, *args, **kwargs)

    return decide


def decide(*job_ids: str) -> Actions:
    state = live(nodes=[node("n1", gpus=8)], pending=[queued(job_id, gpus=1) for job_id in job_ids])
    return PoolDecider(PoolPolicies()).decide(state, UsageHistory())


def test_the_jobs_that_make_the_engine_raise_are_set_aside_and_the_others_placed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pools, "decide", raising_on("bad-1", "bad-2"))

    actions = decide("a", "bad-1", "b", "c", "bad-2", "d")

    assert sorted(b.job.request.job_id for b in actions.binds) == ["a", "b", "c", "d"]
    assert [(s.job_id, s.version) for s in actions.set_aside] == [("bad-1", 1), ("bad-2", 1)]
    assert actions.set_aside[0].reason == (
        "set aside: scheduling it fails (OverflowError: cannot convert bad-1's float infinity to integer)"
    )


def test_a_fault_no_single_job_explains_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    def always(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine bug")

    monkeypatch.setattr(pools, "decide", always)
    with pytest.raises(RuntimeError, match="engine bug"):
        decide("a", "b")


def test_more_raising_jobs_than_a_few_is_no_jobs_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    many = [f"j{i}" for i in range(MAX_SET_ASIDE + 1)]
    monkeypatch.setattr(pools, "decide", raising_on(*many))
    with pytest.raises(OverflowError):
        decide(*many)


def test_jobs_set_aside_while_reading_the_state_are_carried_into_the_actions() -> None:
    aside = SetAside("old", "ten", "prj", 3, "set aside: max_runtime_s ...")
    state = live(nodes=[node("n1", gpus=8)], pending=[queued("a", gpus=1)])

    actions = PoolDecider(PoolPolicies()).decide(replace(state, set_aside=(aside,)), UsageHistory())

    assert actions.set_aside == (aside,)
    assert [b.job.request.job_id for b in actions.binds] == ["a"]

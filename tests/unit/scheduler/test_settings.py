"""The pools' policies from the scheduler's settings: the engine's defaults, environment overrides, and
unknown policy names refused at start-up."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.scheduler.domain.engine import PoolPolicy
from services.scheduler.settings import SchedulerSettings


def test_the_defaults_are_the_engines() -> None:
    assert SchedulerSettings().pool_policy() == PoolPolicy()


def test_the_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "QUEUEING": "drf",
        "PLACEMENT": "fgd",
        "PREEMPTION": "false",
        "PREEMPTION_GRACE_S": "5",
        "MIN_RUNTIME_S": "60",
        "BACKFILL": "false",
        "FAIR_SHARE_HALF_LIFE_S": "600",
    }.items():
        monkeypatch.setenv(f"AIFACTORY_SCHEDULER_{name}", value)

    policy = SchedulerSettings().pool_policy()

    assert policy == PoolPolicy(
        queueing="drf",
        placement="fgd",
        preemption=False,
        preemption_grace_s=5.0,
        min_runtime_s=60.0,
        backfill=False,
        fair_share_half_life_s=600.0,
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"scheduler_queueing": "lottery"}, "scheduler_queueing 'lottery' is not one of"),
        ({"scheduler_placement": "anywhere"}, "scheduler_placement 'anywhere' is not one of"),
        ({"scheduler_min_runtime_s": -1}, "scheduler_min_runtime_s"),
    ],
)
def test_a_bad_policy_setting_is_refused_with_its_name(setting: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SchedulerSettings(**setting)  # type: ignore[arg-type]


def test_pools_override_the_default_policy_from_json_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIFACTORY_SCHEDULER_QUEUEING", "fifo")
    monkeypatch.setenv("AIFACTORY_SCHEDULER_MIN_RUNTIME_S", "60")
    monkeypatch.setenv(
        "AIFACTORY_SCHEDULER_POOLS",
        '{"research": {"queueing": "las", "placement": "fgd"}, "inference": {"preemption": false}}',
    )

    policies = SchedulerSettings().pool_policies()

    assert policies.default == PoolPolicy(queueing="fifo", min_runtime_s=60.0)
    # A pool changes only what it names; the rest is the default policy's.
    assert policies.of("research") == PoolPolicy(queueing="las", placement="fgd", min_runtime_s=60.0)
    assert policies.of("inference") == PoolPolicy(queueing="fifo", preemption=False, min_runtime_s=60.0)
    assert policies.of("anything-else") == policies.default


def test_without_pools_every_pool_takes_the_default_policy() -> None:
    policies = SchedulerSettings().pool_policies()

    assert policies.default == PoolPolicy() and dict(policies.named) == {}


@pytest.mark.parametrize(
    ("pools", "message"),
    [
        ({"research": {"queueing": "lottery"}}, "queueing 'lottery' is not one of"),
        ({"research": {"placement": "anywhere"}}, "placement 'anywhere' is not one of"),
        (
            {"research": {"colour": "blue"}},
            r"scheduler_pools.research.colour\n  Extra inputs are not permitted",
        ),
        ({"research": {"min_runtime_s": -1}}, "scheduler_pools.research.min_runtime_s"),
        ({"research": {"fair_share_half_life_s": 60}}, "set scheduler_fair_share_half_life_s"),
        ({"Research Pool": {}}, "scheduler_pools.Research Pool"),
    ],
)
def test_a_bad_pool_setting_is_refused_with_where_it_is(pools: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SchedulerSettings(scheduler_pools=pools)  # type: ignore[arg-type]

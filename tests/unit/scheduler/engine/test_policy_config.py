"""PoolPolicy defaults and validation, the queueing registry, and the decayed usage helper."""

import math

import pytest

from services.scheduler.domain.engine import QUEUEING_POLICIES, PoolPolicy, decay_usage


def test_default_policy_is_priority_best_fit_with_preemption_and_backfill():
    policy = PoolPolicy()
    assert (policy.queueing, policy.placement) == ("priority", "best_fit")
    assert policy.preemption and policy.backfill
    assert (policy.preemption_grace_s, policy.min_runtime_s, policy.fair_share_half_life_s) == (
        30.0,
        300.0,
        3600.0,
    )


def test_invalid_policy_names_every_problem():
    with pytest.raises(ValueError) as error:
        PoolPolicy(queueing="lottery", min_runtime_s=-1, las_thresholds_gpu_s=(10.0, 5.0))
    message = str(error.value)
    assert "queueing 'lottery'" in message
    assert "min_runtime_s" in message
    assert "las_thresholds_gpu_s" in message


def test_registry_lists_every_queueing_policy_with_a_description():
    assert set(QUEUEING_POLICIES) == {"fifo", "priority", "drf", "las"}
    assert all(description for description in QUEUEING_POLICIES.values())


def test_usage_halves_after_one_half_life():
    assert decay_usage({"a": 1000.0}, {}, 3600.0, 3600.0)["a"] == pytest.approx(500.0)


def test_usage_added_in_one_step_or_many_decays_alike():
    once = decay_usage({}, {"a": 3600.0}, 3600.0, 3600.0)
    stepwise: dict[str, float] = {}
    for _ in range(60):
        stepwise = decay_usage(stepwise, {"a": 60.0}, 60.0, 3600.0)
    assert stepwise["a"] == pytest.approx(once["a"], rel=1e-9)
    # One GPU for one half-life, decayed evenly: 3600 / ln 2 * (1 - 1/2).
    assert once["a"] == pytest.approx(3600 / math.log(2) / 2)


def test_negligible_history_is_dropped():
    assert decay_usage({"a": 1.0}, {}, 3600.0 * 40, 3600.0) == {}


def test_decay_rejects_a_negative_interval():
    with pytest.raises(ValueError, match="elapsed_s"):
        decay_usage({}, {}, -1.0, 3600.0)

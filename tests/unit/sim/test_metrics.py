"""Percentiles and entitlements, the two pieces of report arithmetic with choices in them."""

from __future__ import annotations

import pytest

from services.scheduler.domain.engine.model import FlavorQuota, QueueSpec
from sim.metrics import entitlements, percentile


def test_percentile_interpolates_between_closest_ranks():
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 50) == pytest.approx(25)
    assert percentile(values, 99) == pytest.approx(30 + 0.97 * 10)
    assert (percentile(values, 0), percentile(values, 100), percentile([], 50)) == (10, 40, 0.0)


def test_entitlement_follows_fair_share_weights_without_quotas():
    queues = [QueueSpec("a-p", "a"), QueueSpec("b-p", "b"), QueueSpec("b-q", "b")]
    assert entitlements(queues, ["a", "b"], 16, {}) == {"a": 0.5, "b": 0.5}  # tenants, not projects
    assert entitlements(queues, ["a", "b"], 16, {"a": 3.0}) == {"a": 0.75, "b": 0.25}


def test_entitlement_is_the_nominal_quota_where_quotas_are_set():
    queues = [
        QueueSpec("a-p", "a", quotas=(("A100", FlavorQuota(nominal=12)),)),
        QueueSpec("b-p", "b", quotas=(("A100", FlavorQuota(nominal=4)),)),
    ]
    assert entitlements(queues, ["a", "b"], 32, {}) == {"a": 0.375, "b": 0.125}

"""What metering refuses in usage: times against its clock and windows that end before they start."""

from __future__ import annotations

from datetime import timedelta

from services.metering.usage.domain.checks import UsageLimits, record_problem, sort_out
from tests.unit.metering.usage.builders import T0, inference, sample

LIMITS = UsageLimits(max_future_skew_s=300, grace_s=35 * 86_400)


def test_usage_within_the_skew_and_the_grace_period_is_accepted() -> None:
    for end in (T0 + timedelta(seconds=300), T0 - timedelta(days=35)):
        assert record_problem(sample(end), T0, LIMITS) is None


def test_usage_from_the_future_is_refused_with_how_far_ahead_it_is() -> None:
    record = inference(T0 + timedelta(hours=2), tenant_id="acme")
    problem = record_problem(record, T0, LIMITS)
    assert problem == (
        f"usage external:{record.source_event_id} of tenant acme: window_end "
        f"{record.window_end.isoformat()} is 7200s in the future (at most 300s of clock skew is accepted)"
    )


def test_usage_older_than_the_grace_period_is_refused() -> None:
    problem = record_problem(sample(T0 - timedelta(days=36)), T0, LIMITS)
    assert problem is not None and "is older than the grace period for late usage (35 days)" in problem


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    record = sample(T0, window_start=T0 + timedelta(seconds=1))
    problem = record_problem(record, T0, LIMITS)
    assert problem is not None and "is before window_start" in problem


def test_sort_out_keeps_order_and_gives_each_refusal_its_reason() -> None:
    good, future, old = sample(T0), sample(T0 + timedelta(days=1)), sample(T0 - timedelta(days=90))
    accepted, refused = sort_out([good, future, old, good], T0, LIMITS)
    assert accepted == [good, good]
    assert [(record, "in the future" in reason) for record, reason in refused] == [
        (future, True),
        (old, False),
    ]

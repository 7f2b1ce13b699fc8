from datetime import timedelta

from services.ingest.domain.time_window import TimeLimits, time_problem
from tests.unit.ingest.builders import T0

LIMITS = TimeLimits(max_future_skew_s=300, max_age_s=7 * 86_400)


def test_a_time_within_the_skew_and_the_age_is_accepted() -> None:
    assert time_problem(T0 + timedelta(seconds=300), T0, LIMITS) is None
    assert time_problem(T0 - timedelta(days=7), T0, LIMITS) is None


def test_a_time_beyond_the_skew_is_refused_with_how_far_ahead() -> None:
    problem = time_problem(T0 + timedelta(seconds=301), T0, LIMITS)
    assert problem is not None
    assert "301s in the future" in problem and "300s" in problem


def test_a_time_older_than_the_age_limit_is_refused() -> None:
    problem = time_problem(T0 - timedelta(days=7, seconds=1), T0, LIMITS)
    assert problem is not None
    assert "604801s old" in problem

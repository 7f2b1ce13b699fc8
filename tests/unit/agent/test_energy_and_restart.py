"""Energy between counter readings, and the inference restart backoff."""

from __future__ import annotations

import pytest

from services.agent.domain.energy import energy_between, estimated_energy
from services.agent.domain.restart import STABLE_RUN_S, consecutive_failures_after_exit, restart_delay


def test_energy_is_the_counter_difference_in_joules() -> None:
    delta = energy_between(1_000_000, 1_250_500)
    assert delta.joules == pytest.approx(250.5)
    assert not delta.counter_reset


def test_an_unchanged_counter_is_zero_energy() -> None:
    assert energy_between(42, 42).joules == 0


def test_a_counter_that_went_backwards_is_a_reset_counting_from_zero() -> None:
    delta = energy_between(9_000_000, 1_500)
    assert delta.counter_reset
    assert delta.joules == pytest.approx(1.5)


def test_energy_is_never_negative_even_for_a_nonsense_reading() -> None:
    assert energy_between(10, -5).joules == 0


def test_without_a_counter_energy_is_power_over_the_window() -> None:
    delta = estimated_energy(power_w=250.0, window_s=4.0)
    assert delta.joules == pytest.approx(1000.0)
    assert estimated_energy(-1.0, 4.0).joules == 0


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (9, 30.0)]
)
def test_restart_delay_doubles_up_to_the_cap(failures: int, expected: float) -> None:
    assert restart_delay(failures, base_s=1.0, cap_s=30.0) == expected


def test_a_quick_exit_adds_a_failure_and_a_long_run_starts_over() -> None:
    assert consecutive_failures_after_exit(3, ran_for_s=0.5) == 4
    assert consecutive_failures_after_exit(3, ran_for_s=STABLE_RUN_S) == 1

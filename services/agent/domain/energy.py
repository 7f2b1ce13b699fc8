"""Energy between two readings of a GPU's cumulative energy counter (NVML counts millijoules)."""

from __future__ import annotations

from dataclasses import dataclass

MILLIJOULES_PER_JOULE = 1000


@dataclass(frozen=True)
class EnergyDelta:
    joules: float
    # The counter went backwards (driver reload, GPU reset): the joules are those counted since the reset.
    counter_reset: bool


def energy_between(previous_mj: int, current_mj: int) -> EnergyDelta:
    """The energy spent between two counter readings; never negative."""
    if current_mj < previous_mj:
        # A counter starts again from zero after a reset, so its value is what was spent since.
        return EnergyDelta(joules=max(current_mj, 0) / MILLIJOULES_PER_JOULE, counter_reset=True)
    return EnergyDelta(joules=(current_mj - previous_mj) / MILLIJOULES_PER_JOULE, counter_reset=False)


def estimated_energy(power_w: float, window_s: float) -> EnergyDelta:
    """For GPUs without an energy counter: power held over the window (a rectangle, not a reading)."""
    return EnergyDelta(joules=max(power_w, 0.0) * max(window_s, 0.0), counter_reset=False)

"""The shortest prefix of an ordered list of holdings whose release lets a job fit.

Reservations release holdings by end time, preemption by lost work; both ask the same question of
the placement policy, which is the expensive part. So: start where counting free GPUs says a fit is
possible at all, gallop (1, 2, 4... steps), then bisect back to the first step that fits. That is
O(log n) placement attempts instead of n, assuming (as for any sane placement) that releasing more
never turns a fit into a misfit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def shortest_fitting_prefix(
    ordered: Sequence[T],
    bounds: Sequence[int],
    first: int,
    release: Callable[[T], None],
    restore: Callable[[T], None],
    attempt: Callable[[], R | None],
) -> tuple[int, R] | None:
    """The least i >= `first` such that, with `ordered[:bounds[i]]` released, `attempt()` succeeds,
    with its result; None if none does. `bounds` are ascending prefix lengths (group boundaries).
    Everything released is restored before it returns."""
    released = 0

    def release_to(count: int) -> None:
        nonlocal released
        while released < count:
            release(ordered[released])
            released += 1
        while released > count:
            released -= 1
            restore(ordered[released])

    def fits_at(i: int) -> R | None:
        release_to(bounds[i])
        return attempt()

    try:
        last = len(bounds) - 1
        low, probe, step = first - 1, first, 1
        hit: int | None = None
        result: R | None = None
        while hit is None and low < last:
            probe = min(probe, last)
            result = fits_at(probe)
            if result is not None:
                hit = probe
            else:
                low, probe, step = probe, probe + step, step * 2
        if hit is None:
            return None
        while hit - low > 1:  # the first fitting boundary lies in (low, hit]
            mid = (low + hit) // 2
            found = fits_at(mid)
            if found is not None:
                hit, result = mid, found
            else:
                low = mid
        assert result is not None
        return hit, result
    finally:
        release_to(0)

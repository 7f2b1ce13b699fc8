"""Garbage-collector settings for long runs of scheduling cycles (the simulator, the benchmarks).

Python's cyclic collector runs when tracked objects allocated minus those freed pass 700. A cycle
holds thousands of short-lived objects (a decision per pending job) until it returns, so with that
threshold the collector runs a dozen times per cycle, each time walking what the cycle still holds,
and now and then walks the whole heap (a 100,000-job trace: a million objects, a pause of 100 ms and
more). While `calm_collector()` is active, what exists at its start is frozen (never walked again) and
the collector waits for `young_threshold` net allocations, which a cycle frees before it gets there.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 100_000


@contextmanager
def calm_collector(young_threshold: int = YOUNG_THRESHOLD) -> Iterator[None]:
    """Freeze what is allocated so far and collect young objects rarely; restored on exit (what was
    frozen stays frozen if the process had frozen objects itself: it manages that)."""
    thresholds = gc.get_threshold()
    frozen_before = gc.get_freeze_count() > 0
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if not frozen_before:
            gc.unfreeze()

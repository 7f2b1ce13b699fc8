"""When to restart an inference replica that exited on its own."""

from __future__ import annotations

# A replica that ran at least this long is considered healthy again: its next crash starts backoff over.
STABLE_RUN_S = 60.0


def restart_delay(consecutive_failures: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff: base, 2*base, 4*base ... capped, so a crash loop does not spin the node."""
    if consecutive_failures <= 0:
        return base_s
    return float(min(base_s * 2 ** (consecutive_failures - 1), cap_s))


def consecutive_failures_after_exit(previous: int, ran_for_s: float) -> int:
    """A long, healthy run resets the failure count; a quick exit adds to it."""
    return 1 if ran_for_s >= STABLE_RUN_S else previous + 1

"""Least attained service, after Tiresias (Gu et al., NSDI 2019): without knowing job durations, favour
jobs that have received the least GPU time, in a few discrete queues so jobs within a queue keep their
submission order and are not preempted back and forth by tiny differences in service.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping

from services.scheduler.domain.engine.model import JobRequest


def las_level(attained_gpu_s: float, thresholds: tuple[float, ...]) -> int:
    """0 for the first (most favoured) queue; a job drops one queue at each threshold it passes."""
    return bisect_right(thresholds, attained_gpu_s)


def las_key(attained: Mapping[str, float], thresholds: tuple[float, ...]) -> Callable[[JobRequest], tuple]:
    """Priority class first (a pool's priority classes still hold), then LAS queue, then submission."""

    def key(job: JobRequest) -> tuple:
        level = las_level(attained.get(job.job_id, 0.0), thresholds)
        return (-job.priority, level, job.submitted_at, job.job_id)

    return key

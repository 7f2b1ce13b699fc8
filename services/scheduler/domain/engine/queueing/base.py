"""What every queueing policy provides to the engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Protocol

from services.scheduler.domain.engine.model import JobRequest

# How much a job matters when preemption is considered: a pending job may preempt a running one whose
# rank is strictly lower. Compared as tuples, the larger the more important.
Rank = tuple[float, ...]
RankFn = Callable[[JobRequest], Rank]


class JobOrder(Protocol):
    def __iter__(self) -> Iterator[JobRequest]:
        """The pending jobs, each once, in the order the engine should consider them."""
        ...

    def admitted(self, request: JobRequest, flavor: str) -> None:
        """The job just yielded was placed on `flavor` (called before the next job is asked for)."""
        ...


class StaticOrder:
    """An order fixed at the start of the cycle (FIFO, priority, LAS)."""

    __slots__ = ("_jobs",)

    def __init__(self, jobs: list[JobRequest], key: Callable[[JobRequest], tuple]) -> None:
        self._jobs = sorted(jobs, key=key)

    @classmethod
    def by_priority(cls, jobs: list[JobRequest]) -> StaticOrder:
        """priority_key's order, sorted in C: submission order, then (stable) priority descending."""
        order = cls([], priority_key)
        order._jobs = sorted(jobs, key=attrgetter("submitted_at", "job_id"))
        order._jobs.sort(key=attrgetter("priority"), reverse=True)
        return order

    def __iter__(self) -> Iterator[JobRequest]:
        return iter(self._jobs)

    def admitted(self, request: JobRequest, flavor: str) -> None:
        return None


fifo_key: Callable[[JobRequest], tuple] = attrgetter("submitted_at", "job_id")


def priority_key(job: JobRequest) -> tuple:
    return (-job.priority, job.submitted_at, job.job_id)

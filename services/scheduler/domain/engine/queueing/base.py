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

    def ahead_of(self, request: JobRequest, victim: JobRequest, victim_flavor: str) -> bool:
        """Whether `request` would come first were the running `victim` stopped and queued again.
        Preempting a job that would then come first frees GPUs only for it to take them back."""
        ...


class StaticOrder:
    """An order fixed at the start of the cycle (FIFO, priority, LAS)."""

    __slots__ = ("_jobs", "_key")

    def __init__(
        self,
        jobs: list[JobRequest],
        key: Callable[[JobRequest], tuple],
        fresh: Callable[[list[JobRequest]], list[JobRequest]] | None = None,
    ) -> None:
        """`fresh`, if given, sorts like `key` does, faster."""
        self._jobs = fresh(jobs) if fresh is not None else sorted(jobs, key=key)
        self._key = key

    @classmethod
    def by_priority(cls, jobs: list[JobRequest]) -> StaticOrder:
        return cls(jobs, priority_key, _by_priority)

    @classmethod
    def by_submission(cls, jobs: list[JobRequest]) -> StaticOrder:
        return cls(jobs, fifo_key, _by_submission)

    def __iter__(self) -> Iterator[JobRequest]:
        return iter(self._jobs)

    def admitted(self, request: JobRequest, flavor: str) -> None:
        return None

    def ahead_of(self, request: JobRequest, victim: JobRequest, victim_flavor: str) -> bool:
        return self._key(request) < self._key(victim)


fifo_key: Callable[[JobRequest], tuple] = attrgetter("submitted_at", "job_id")


def priority_key(job: JobRequest) -> tuple:
    return (-job.priority, job.submitted_at, job.job_id)


# Sorting thousands of jobs every cycle: stable sorts on one attribute each, least significant first,
# give the tuple key's order several times faster than the tuple key (no tuple per job and compare).


def _by_submission(jobs: list[JobRequest]) -> list[JobRequest]:
    """fifo_key's order."""
    ordered = sorted(jobs, key=attrgetter("job_id"))
    ordered.sort(key=attrgetter("submitted_at"))
    return ordered


def _by_priority(jobs: list[JobRequest]) -> list[JobRequest]:
    """priority_key's order: submission order, then (stable) priority descending."""
    ordered = _by_submission(jobs)
    ordered.sort(key=attrgetter("priority"), reverse=True)
    return ordered

"""What every cycle asks of the running jobs, kept between cycles and brought up to date by identity.

A fleet runs thousands of jobs and from one cycle to the next only a few start or end; callers (the
live snapshot builder, the simulator) pass the same RunningJob object while a job is unchanged. So the
per-job facts every cycle needs (which job ids run, which nodes are in use, when each job reaches its
maximum runtime, what each queue holds) are indexed once per job object, and a cycle pays for what
changed: the snapshot's jobs are compared with the last cycle's by identity, in C. The index holds the
objects it indexed, so an id cannot be reused while it is known; its answers are those a scan of the
snapshot would give, so decide() stays a function of its snapshot.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping, Sequence
from itertools import filterfalse
from typing import TypeVar

from services.scheduler.domain.engine.model import RunningJob

T = TypeVar("T")

# (tenant, queue, flavor) -> [GPU thousandths, CPU milli, memory MiB, jobs]
Usage = dict[tuple[str, str, str], list[int]]


def by_identity(items: Sequence[T]) -> dict[int, T]:
    return dict(zip(map(id, items), items, strict=False))  # map(id) is as long as items


def identity_diff(known: dict[int, T], items: Sequence[T]) -> tuple[dict[int, T], list[T], list[T]]:
    """`items` by object identity, those not in `known` (added) and those of `known` gone (removed)."""
    current = by_identity(items)
    added = [current[key] for key in filterfalse(known.__contains__, current)]
    removed = [known[key] for key in filterfalse(current.__contains__, known)]
    return current, added, removed


class RunningIndex:
    __slots__ = (
        "_by_slot",
        "_checked_against",
        "_deadlines",
        "_jobs",
        "_new_nodes",
        "_slot",
        "_slots",
        "generation",
        "job_counts",
        "last_diff",
        "node_counts",
        "node_slots",
        "usage",
    )

    def __init__(self) -> None:
        self._jobs: dict[int, RunningJob] = {}
        # Each job indexed gets a slot number, kept when only its checkpoint changes.
        self._slot: dict[int, int] = {}  # id(job) -> slot
        self._by_slot: dict[int, RunningJob] = {}
        self._slots = 0
        self.job_counts: dict[str, int] = {}  # job id -> running entries with it (1 but in a bad snapshot)
        self.node_counts: dict[str, int] = {}  # node id -> placements on it
        self.node_slots: dict[str, set[int]] = {}  # node id -> slots of the jobs with a replica there
        self.usage: Usage = {}
        # (started_at + max_runtime_s, job id, slot), ascending: who passed its maximum runtime.
        self._deadlines: list[tuple[float, str, int]] = []
        self._checked_against: Mapping[str, object] | None = None  # all nodes in use were among these
        self._new_nodes: set[str] = set()  # nodes that came into use since
        # Bumped at each change; the jobs added and removed by the last update(), if that was the
        # last change (the engine's kept cluster state follows them).
        self.generation = 0
        self.last_diff: tuple[list[RunningJob], list[RunningJob]] | None = None

    def update(self, running: Sequence[RunningJob]) -> None:
        """Bring the index up to date with `running` (by identity: only what changed costs)."""
        self._jobs, added, removed = identity_diff(self._jobs, running)
        for job in removed:
            self._count(job, -1)
        for job in added:
            self._count(job, 1)
        self.generation += 1
        self.last_diff = (added, removed)

    def add(self, job: RunningJob) -> None:
        """A job started (for a caller that keeps the index up to date itself, like the simulator)."""
        self._jobs[id(job)] = job
        self._count(job, 1)
        self._changed()

    def remove(self, job: RunningJob) -> None:
        """A job (that exact object) no longer runs."""
        del self._jobs[id(job)]
        self._count(job, -1)
        self._changed()

    def replace(self, old: RunningJob, new: RunningJob) -> None:
        """A job shows a new state; when only its checkpoint changed, its facts stay as they are."""
        if not (
            new.request is old.request
            and new.placements is old.placements
            and new.started_at == old.started_at
            and new.flavor == old.flavor
        ):
            self.remove(old)
            self.add(new)
            return
        del self._jobs[id(old)]
        self._jobs[id(new)] = new
        slot = self._slot.pop(id(old))
        self._slot[id(new)] = slot
        self._by_slot[slot] = new
        self._changed()

    def _changed(self) -> None:
        """A change made job by job (not by update())."""
        self.generation += 1
        self.last_diff = None

    def held(self) -> list[tuple[str, str, str, int, int, int]]:
        """What the running jobs hold per (tenant, queue, flavor): GPU thousandths, CPU, memory."""
        return [(*key, gpu, cpu, memory) for key, (gpu, cpu, memory, _) in self.usage.items()]

    def __len__(self) -> int:
        return len(self._jobs)

    def overdue(self, now: float) -> list[RunningJob]:
        """The jobs that reached their maximum runtime by `now`, soonest first (then by job id)."""
        deadlines = self._deadlines
        end = bisect_right(deadlines, now, key=_deadline)
        return [self._by_slot[slot] for _, _, slot in deadlines[:end]]

    def jobs_on(self, node_id: str) -> list[RunningJob]:
        """The jobs with a replica on the node."""
        by_slot = self._by_slot
        return [by_slot[slot] for slot in self.node_slots.get(node_id, ())]

    def nodes_within(self, known: Mapping[str, object]) -> bool:
        """Whether every node a job runs on is among `known` (a mapping checked before is asked only
        about the nodes that came into use since)."""
        if known is self._checked_against:
            within = all(node in known for node in self._new_nodes if node in self.node_counts)
        else:
            within = self.node_counts.keys() <= known.keys()
        self._checked_against = known if within else None
        self._new_nodes.clear()
        return within

    def _count(self, job: RunningJob, sign: int) -> None:
        request = job.request
        job_id = request.job_id
        _bump(self.job_counts, job_id, sign)
        if sign > 0:
            self._slots += 1
            slot = self._slot[id(job)] = self._slots
            self._by_slot[slot] = job
        else:
            slot = self._slot.pop(id(job))
            del self._by_slot[slot]
        node_counts = self.node_counts
        for p in job.placements:
            if sign > 0 and p.node_id not in node_counts:
                self._new_nodes.add(p.node_id)
            _bump(node_counts, p.node_id, sign)
        for node_id in {p.node_id for p in job.placements}:
            if sign > 0:
                self.node_slots.setdefault(node_id, set()).add(slot)
            else:
                slots = self.node_slots[node_id]
                slots.discard(slot)
                if not slots:
                    del self.node_slots[node_id]
        if request.max_runtime_s is not None:
            entry = (job.started_at + request.max_runtime_s, job_id, slot)
            if sign > 0:
                insort(self._deadlines, entry)
            else:
                del self._deadlines[bisect_left(self._deadlines, entry)]
        key = (request.tenant_id, request.project_id, job.flavor)
        held = self.usage.get(key)
        if held is None:
            held = self.usage[key] = [0, 0, 0, 0]
        held[0] += sign * request.gpu_demand_milli
        held[1] += sign * request.cpu_milli_per_replica * request.replicas
        held[2] += sign * request.memory_mib_per_replica * request.replicas
        held[3] += sign
        if not held[3]:
            del self.usage[key]


def _deadline(entry: tuple[float, str, int]) -> float:
    return entry[0]


def _bump(counts: dict[str, int], key: str, sign: int) -> None:
    value = counts.get(key, 0) + sign
    if value:
        counts[key] = value
    else:
        del counts[key]

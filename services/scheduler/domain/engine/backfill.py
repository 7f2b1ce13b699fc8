"""Reservations and backfill (EASY backfilling, after Lifka 1995 and Slurm's backfill scheduler).

When the job at the head of the order cannot start, it gets a reservation: the earliest time enough
GPUs free up, from the declared maximum runtimes of what holds them, and the GPUs it will use then.
Planning releases holdings on the cluster in order of their end, soonest first, until the placement
policy finds room; so the reservation is a real placement, fragmentation included.

The GPUs of that placement which are free now are blocked for the rest of the cycle with a stand-in
("phantom") commit. A later job then starts now only if it fits around them, or if its maximum
runtime ends before the reservation starts (then it may use them too). Either way it cannot delay the
reserved job, and as the planning is redone every cycle from what runs, the reserved start never
moves later while the job stays at the head: large jobs do not starve behind a stream of small ones.

When what holds the GPUs declares no maximum runtime, no start time can be planned; the job then
"drains" the nodes it would use (the least busy that fit it): their free GPUs are blocked as they free
up, until it fits.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, ReplicaPlacement
from services.scheduler.domain.engine.prefix_search import shortest_fitting_prefix
from services.scheduler.domain.engine.workspace import Holding, PlacementResult, Workspace


@dataclass(slots=True)
class Reservation:
    request: JobRequest
    start_at: float | None  # None: draining, start unknown
    flavor: str
    placements: tuple[ReplicaPlacement, ...]
    phantom: JobRequest
    phantom_placements: tuple[ReplicaPlacement, ...] = ()  # blocking the reserved GPUs free now
    phantom_committed: bool = False  # whether the cluster holds them right now
    phantom_gpus: int = 0  # whole GPUs the phantom blocks
    needed: dict[str, dict[int, int]] = field(default_factory=dict)  # node -> GPU index -> milli
    # False for the GPUs kept for a job that preempted others: not one of the pool's max_reservations.
    counted: bool = True

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.node_id for p in self.placements))


class Reservations:
    def __init__(self, workspace: Workspace, now: float) -> None:
        self._ws = workspace
        self._now = now
        self.items: list[Reservation] = []
        # For ignorable_key, while the reservations and phantoms stay as they are.
        self._starts: list[float] | None = None
        self._suffixes: list[tuple[str, ...]] = []

    # 1. Planning -----------------------------------------------------------------------------------

    def count(self, flavors: tuple[str, ...]) -> int:
        """How many reservations hold GPUs of one of these flavors."""
        return sum(1 for r in self.items if r.counted and r.flavor in flavors)

    def plan(self, request: JobRequest, flavors: tuple[str, ...]) -> Reservation | None:
        """Reserve the earliest placement for a job that cannot start now, and block its free GPUs."""
        found = self._earliest(request, flavors)
        if found is None:
            return None
        start_at, result = found
        return self._reserve(request, start_at, result, counted=True)

    def keep_for(self, request: JobRequest, start_at: float, result: PlacementResult) -> None:
        """Block, for the rest of the cycle, the free GPUs of the placement a job that preempted others
        will take at `start_at` (when its victims are gone): a later job must not take them."""
        self._reserve(request, start_at, result, counted=False)

    def _reserve(
        self, request: JobRequest, start_at: float | None, result: PlacementResult, counted: bool
    ) -> Reservation:
        flavor, placements = result
        needed: dict[str, dict[int, int]] = {}
        for p in placements:
            per_gpu = needed.setdefault(p.node_id, {})
            for index in p.gpu_indices:
                per_gpu[index] = per_gpu.get(index, 0) + p.gpu_milli
        phantom = JobRequest(
            job_id=f"reservation/{request.job_id}",
            tenant_id=request.tenant_id,
            project_id=request.project_id,
            submitted_at=request.submitted_at,
        )
        reservation = Reservation(
            request, start_at, flavor, placements, phantom, needed=needed, counted=counted
        )
        self._release_phantoms()
        self.items.append(reservation)
        self._commit_phantoms()
        return reservation

    def _earliest(
        self, request: JobRequest, flavors: tuple[str, ...]
    ) -> tuple[float | None, PlacementResult] | None:
        ws = self._ws
        # Holdings on GPUs an earlier reservation needs stay put: this job must not count on them.
        items = self.items
        holdings = [
            h for h in ws.holdings.values() if h.flavor in flavors and not self._overlaps_reserved(h, items)
        ]
        timed = sorted((h for h in holdings if h.end_at is not None), key=lambda h: h.end_at or 0.0)
        found = self._release_until_fit(request, flavors, timed, lambda h: h.end_at)
        if found is not None:
            last, result = found
            return last.end_at, result
        # No planned time: drain the least busy nodes, releasing every job on a node at once.
        busy: dict[str, int] = {}
        for h in holdings:
            for p in h.placements:
                busy[p.node_id] = busy.get(p.node_id, 0) + len(p.gpu_indices) * p.gpu_milli
        drain_rank = {h.request.job_id: max(busy[p.node_id] for p in h.placements) for h in holdings}
        by_node = sorted(holdings, key=lambda h: (drain_rank[h.request.job_id], h.request.job_id))
        drained = self._release_until_fit(request, flavors, by_node, lambda h: drain_rank[h.request.job_id])
        return None if drained is None else (None, drained[1])

    def kept_for_others(self, request: JobRequest) -> Callable[[Holding], bool]:
        """Whether a job's GPUs are needed by a reservation that `request` would delay (it does not end
        before it starts): preempting that job would serve the reservation, not `request`."""
        ignorable = {id(r) for r in self._ends_before(request)}
        others = [r for r in self.items if id(r) not in ignorable and r.request is not request]
        return lambda h: bool(others) and self._overlaps_reserved(h, others)

    @staticmethod
    def _overlaps_reserved(h: Holding, reservations: list[Reservation]) -> bool:
        for r in reservations:
            for p in h.placements:
                per_gpu = r.needed.get(p.node_id)
                if per_gpu and any(i in per_gpu for i in p.gpu_indices):
                    return True
        return False

    def _release_until_fit(
        self,
        request: JobRequest,
        flavors: tuple[str, ...],
        ordered: list[Holding],
        group_of: Callable[[Holding], object],
    ) -> tuple[Holding, PlacementResult] | None:
        """Release `ordered` holdings group by group until the job fits (then restore them all);
        the last holding released (whose group boundary is the earliest fit) and the placement there."""
        ws = self._ws
        groups = list(map(group_of, ordered))
        bounds = [
            i for i, (group, after) in enumerate(zip(groups, groups[1:], strict=False), 1) if group != after
        ]
        if ordered:
            bounds.append(len(ordered))
        first = self._first_possible_bound(request, flavors, ordered, bounds)
        if first is None:
            return None
        found = shortest_fitting_prefix(
            ordered, bounds, first, ws.release, ws.restore, lambda: ws.find_place(request, flavors)
        )
        if found is None:
            return None
        hit, result = found
        return ordered[bounds[hit] - 1], result

    def _first_possible_bound(
        self, request: JobRequest, flavors: tuple[str, ...], ordered: list[Holding], bounds: list[int]
    ) -> int | None:
        """The first group boundary at which the free GPUs could cover a whole-GPU job (0 otherwise)."""
        if not bounds:
            return None
        if request.gpu_milli < WHOLE_GPU:
            return 0
        needed = request.replicas * request.gpus_per_replica * WHOLE_GPU
        free = {f: self._ws.cluster.free_gpus(f) * WHOLE_GPU for f in flavors}
        b = 0
        for i, h in enumerate(ordered):
            free[h.flavor] += sum(len(p.gpu_indices) * p.gpu_milli for p in h.placements)
            if i + 1 == bounds[b]:
                if max(free.values()) >= needed:
                    return b
                b += 1
        return None

    # 2. Placing later jobs around the reservations -------------------------------------------------

    def find_place(
        self, request: JobRequest, flavors: tuple[str, ...]
    ) -> tuple[PlacementResult | None, bool]:
        """Where a later job may start now without delaying a reservation; and whether it may use
        reserved GPUs (it ends before those reservations start). When it may and a place was found,
        the caller commits the job, then calls `after_place(True)`."""
        ignorable = self._ends_before(request)
        if not ignorable:
            return self._ws.find_place(request, flavors), False
        for r in ignorable:
            self._set_phantom(r, committed=False)
        result = self._ws.find_place(request, flavors)
        if result is None:
            for r in ignorable:
                self._set_phantom(r, committed=True)
        return result, result is not None

    def fits_with_own(self, request: JobRequest, flavors: tuple[str, ...]) -> bool:
        """Whether the job fits now, on free GPUs or on those its own reservation blocks."""
        own = next((r for r in self.items if r.request is request), None)
        committed = own is not None and own.phantom_committed
        if own is not None:
            self._set_phantom(own, committed=False)
        try:
            return self._ws.find_place(request, flavors) is not None
        finally:
            if own is not None:
                self._set_phantom(own, committed=committed)

    def after_place(self, used_reserved: bool) -> None:
        """Block again what the reservations need and is still free, once a job that could use
        reserved GPUs was committed."""
        if used_reserved:
            self._release_phantoms()
            self._commit_phantoms()

    def blocking(self, request: JobRequest, flavors: tuple[str, ...]) -> Reservation | None:
        """The reservation whose blocked GPUs would have let the job fit by count, if any."""
        if not self.items or request.gpu_milli < WHOLE_GPU:
            return None
        needed = request.replicas * request.gpus_per_replica
        free = self._ws.cluster.free_gpus
        for r in self.items:
            if r.flavor in flavors and free(r.flavor) < needed <= free(r.flavor) + r.phantom_gpus:
                return r
        return None

    def ignorable_key(self, request: JobRequest) -> tuple[str, ...]:
        """The reservations a job ends before (it may use their GPUs), as a cache key."""
        runtime = request.max_runtime_s
        if not self.items or runtime is None:
            return ()
        if self._starts is None:
            # Reservations by start; the job may use those starting at or after its end: a suffix.
            timed = sorted(
                (r.start_at, r.request.job_id)
                for r in self.items
                if r.start_at is not None and r.phantom_placements
            )
            self._starts = [start for start, _ in timed]
            self._suffixes = [tuple(job_id for _, job_id in timed[i:]) for i in range(len(timed) + 1)]
        return self._suffixes[bisect_left(self._starts, self._now + runtime)]

    def _ends_before(self, request: JobRequest) -> list[Reservation]:
        if not self.items or request.max_runtime_s is None:
            return []
        end = self._now + request.max_runtime_s
        return [
            r for r in self.items if r.start_at is not None and end <= r.start_at and r.phantom_placements
        ]

    # 3. Phantoms -----------------------------------------------------------------------------------

    def release_all(self) -> None:
        """Take every phantom off the cluster (at the end of the cycle)."""
        self._release_phantoms()

    def _release_phantoms(self) -> None:
        for r in reversed(self.items):
            self._set_phantom(r, committed=False)
            r.phantom_placements = ()
        self._starts = None

    def _commit_phantoms(self) -> None:
        """Block, for each reservation in turn, the GPU shares it needs that are free now."""
        ws = self._ws
        taken: dict[str, list[int]] = {}
        for r in self.items:
            groups: dict[tuple[str, int], list[int]] = {}
            for node_id, per_gpu in r.needed.items():
                used = taken.get(node_id)
                if used is None:
                    used = taken[node_id] = ws.occupancy(node_id)
                for index, milli in sorted(per_gpu.items()):
                    block = min(milli, WHOLE_GPU - used[index])
                    if block > 0:
                        used[index] += block
                        groups.setdefault((node_id, block), []).append(index)
            r.phantom_placements = tuple(
                ReplicaPlacement(i, node_id, tuple(indices), block)
                for i, ((node_id, block), indices) in enumerate(groups.items())
            )
            r.phantom_gpus = sum(len(p.gpu_indices) * p.gpu_milli for p in r.phantom_placements) // WHOLE_GPU
            self._set_phantom(r, committed=True)
        self._starts = None

    def _set_phantom(self, r: Reservation, committed: bool) -> None:
        """Commit or release a reservation's phantom on the cluster, once."""
        if r.phantom_committed == committed:
            return
        if r.phantom_placements:
            request = _phantom_request(r)
            if committed:
                self._ws.cluster.commit(request, r.phantom_placements)
            else:
                self._ws.cluster.release(request, r.phantom_placements)
        r.phantom_committed = committed


def _phantom_request(r: Reservation) -> JobRequest:
    """A stand-in request shaped like its placements (one replica per group), holding no CPU or memory."""
    first = r.phantom_placements[0]
    whole = first.gpu_milli == WHOLE_GPU and len(first.gpu_indices) > 1
    return JobRequest(
        job_id=r.phantom.job_id,
        tenant_id=r.phantom.tenant_id,
        project_id=r.phantom.project_id,
        submitted_at=r.phantom.submitted_at,
        replicas=len(r.phantom_placements),
        gpus_per_replica=len(first.gpu_indices) if whole else 1,
        gpu_milli=first.gpu_milli if not whole else WHOLE_GPU,
    )

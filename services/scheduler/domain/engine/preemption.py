"""Preemption: which running jobs to stop so a blocked job can start, losing the least work.

A pending job may preempt a running job when
- they share a queue and the running job ranks lower (priority class; under LAS, more service), or
- the running job's queue is borrowing (uses more than its nominal quota of that flavor) and either it
  ranks lower or the pending job's queue is reclaiming its own nominal quota, or
- the running job's queue has no quota for that flavor (nothing guarantees it) and it ranks lower.
Never a job that is not preemptible, has run less than the minimum runtime, or is already going; and
on rank alone never a job that, queued again, would come before the pending job (under FIFO, an older
job): it would take its GPUs straight back, and the two would preempt each other forever. A borrowing
victim of a reclaim is fine: queued again it would borrow, and borrowers wait for work within nominal.
Nor is anything preempted when a job considered before the pending one, still waiting, would fit in
what the victims free: it would take those GPUs first (`taken_first`).

The plan is checked, not guessed: victims are released on the cycle's cluster (and quota ledger) one
at a time, cheapest first, until the job fits; then each victim is put back if the job still fits
without it. Everything is restored before the plan is returned; the victims keep their GPUs until
they exit, so nothing else can be placed on them in the meantime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.scheduler.domain.engine.model import WHOLE_GPU, JobRequest, ReplicaPlacement
from services.scheduler.domain.engine.prefix_search import shortest_fitting_prefix
from services.scheduler.domain.engine.queueing import JobOrder, RankFn
from services.scheduler.domain.engine.quota import QuotaLedger
from services.scheduler.domain.engine.running import RunningScan
from services.scheduler.domain.engine.workspace import Holding, PlacementResult, Workspace

# Whether the job fits (quota and placement) as the cluster and ledger are now: where, or None.
Fits = Callable[[], PlacementResult | None]
# Whether some job ahead of the preemptor would fit as the cluster and ledger are now.
TakenFirst = Callable[[], bool]
# Whether a running job's GPUs are kept for a reservation the preemptor must not delay.
KeptBack = Callable[[Holding], bool]


@dataclass(frozen=True, slots=True)
class PreemptionPlan:
    victims: tuple[Holding, ...]
    # Jobs already going (grace period, stopping) whose GPUs the job waits for.
    awaited: tuple[str, ...]
    # Where the job fits once they are all gone (its GPUs free now are to be kept for it).
    placement: PlacementResult


def lost_work_gpu_s(holding: Holding, now: float) -> float:
    """GPU-seconds a job would lose if stopped now: since its last checkpoint, or since it started."""
    running = holding.running
    assert running is not None
    since = running.started_at
    if running.request.checkpointable and running.last_checkpoint_at is not None:
        since = max(since, running.last_checkpoint_at)
    return running.request.gpu_demand_milli / WHOLE_GPU * max(0.0, now - since)


class Preemptor:
    def __init__(
        self,
        workspace: Workspace,
        scan: RunningScan,
        ledger: QuotaLedger,
        rank: RankFn,
        order: JobOrder,
        now: float,
        min_runtime_s: float,
    ) -> None:
        self._ws = workspace
        self._order = order
        self._scan = scan
        self._ledger = ledger
        self._rank = rank
        self._now = now
        self._min_runtime_s = min_runtime_s
        self._candidates: list[Holding] | None = None
        self._sorted = False
        self._departing: list[Holding] | None = None  # jobs going (stopping, grace period) at the start
        self._ranks: dict[str, tuple[float, ...]] = {}
        self._lost: dict[str, float] = {}
        self._lowest_rank: tuple[float, ...] | None = None  # of the possible victims
        self._lowest_known = False
        self.claimed: set[str] = set()  # victims and departing jobs a preemptor already counts on
        self._claimed: list[Holding] = []  # the same, as holdings

    def _ensure_candidates(self, ordered: bool = True) -> list[Holding]:
        """The running jobs that may be victims at all; sorted (least work lost first) when asked."""
        if self._candidates is None:
            now = self._now
            holdings = self._ws.holdings.values()
            eligible = [
                h
                for h in holdings
                if h.running is not None
                and not h.departing
                and h.request.preemptible
                and now - h.running.started_at >= self._min_runtime_s
            ]
            self._ranks = {h.request.job_id: self._rank(h.request) for h in eligible}
            self._candidates = eligible
        if ordered and not self._sorted:
            now = self._now
            self._lost = lost = {h.request.job_id: lost_work_gpu_s(h, now) for h in self._candidates}
            # Least work lost first; among equals the newest (it has run the least), then a stable id.
            self._candidates.sort(key=lambda h: (lost[h.request.job_id], -h.started_at, h.request.job_id))
            self._sorted = True
        return self._candidates

    def _going(self) -> list[Holding]:
        """The jobs that were going (stopping, in their grace period) when the cycle began."""
        if self._departing is None:
            self._departing = [h for h in self._ws.holdings.values() if h.departing]
        return self._departing

    def worth_trying(self, request: JobRequest) -> bool:
        """A cheap test that some running job could be a victim, or is preempted already (a job that
        waits for its GPUs keeps those it counts on, even when nothing else ranks lower)."""
        return self._scan.in_grace or self._may_victimize(request)

    def _may_victimize(self, request: JobRequest) -> bool:
        if self._ledger.any_borrowing():
            return True
        if not self._lowest_known:
            # From the snapshot, without making the holdings (most cycles never need them).
            now, min_runtime, leaving = self._now, self._min_runtime_s, self._scan.leaving
            self._lowest_rank = min(
                (
                    self._rank(job.request)
                    for job in self._scan.running
                    if job.request.preemptible
                    and now - job.started_at >= min_runtime
                    and job.request.job_id not in leaving
                    and job.request.job_id not in self._scan.lost
                ),
                default=None,
            )
            self._lowest_known = True
        return self._lowest_rank is not None and self._lowest_rank < self._rank(request)

    def victim_reason(self, victim: Holding, request: JobRequest, policy_name: str) -> str:
        if victim.request.project_id != request.project_id and not self._rank(victim.request) < self._rank(
            request
        ):
            return (
                f"queue {request.project_id} reclaims its nominal {victim.flavor} quota lent to queue "
                f"{victim.request.project_id} (job {request.job_id})"
            )
        return f"preempted for job {request.job_id}, which ranks higher under the {policy_name} policy"

    def plan(
        self,
        request: JobRequest,
        flavors: tuple[str, ...],
        fits: Fits,
        taken_first: TakenFirst,
        kept_back: KeptBack,
    ) -> PreemptionPlan | None:
        """Victims that let the job fit (quota and placement, as `fits` says), or None; None too when
        a job ahead of it would take what they free (as `taken_first` says). Jobs on GPUs kept for a
        reservation (`kept_back`) are no victims: what they free is the reservation's."""
        departing = [h for h in self._going() if h.flavor in flavors and h.request.job_id not in self.claimed]
        for h in departing:
            self._release(h)
        try:
            awaited = tuple(h.request.job_id for h in departing)
            placement = fits()
            if placement is not None:
                self._claim(departing)
                return PreemptionPlan((), awaited, placement)
            chosen = self._choose(request, flavors, fits, kept_back) if self._may_victimize(request) else None
            if chosen is None:
                return None
            placement = self._unless_taken_first(chosen, fits, taken_first)
            if placement is None:
                return None
        finally:
            for h in departing:
                self._restore(h)
        self._claim(chosen)
        self._claim(departing)
        return PreemptionPlan(tuple(chosen), awaited, placement)

    def _claim(self, holdings: list[Holding]) -> None:
        self.claimed.update(h.request.job_id for h in holdings)
        self._claimed.extend(holdings)

    def _unless_taken_first(
        self, victims: list[Holding], fits: Fits, taken_first: TakenFirst
    ) -> PlacementResult | None:
        """Where the job fits with the victims gone, unless a job ahead would take GPUs first once
        they and every job already counted on this cycle are gone."""
        released: list[Holding] = []
        try:
            for h in victims:
                self._release(h)
                released.append(h)
            placement = fits()
            if placement is None:
                return None
            for h in self._claimed:
                self._release(h)
                released.append(h)
            return None if taken_first() else placement
        finally:
            for h in released:
                self._restore(h)

    def _choose(
        self, request: JobRequest, flavors: tuple[str, ...], fits: Fits, kept_back: KeptBack
    ) -> list[Holding] | None:
        ledger = self._ledger
        # Candidates in order, each eligible given that all before it are gone (a queue that stops
        # borrowing is protected again); decided on the ledger alone, then undone.
        ordered: list[Holding] = []
        rank = self._rank(request)
        for h in self._ensure_candidates():
            if h.flavor in flavors and self._eligible(h, request, rank) and not kept_back(h):
                ordered.append(h)
                ledger.add(h.request, h.flavor, sign=-1)
        for h in ordered:
            ledger.add(h.request, h.flavor)
        if request.gpu_milli == WHOLE_GPU:
            ordered = self._node_by_node(request, ordered)
        first = self._first_possible(request, flavors, ordered)
        if first is None:
            return None
        bounds = range(1, len(ordered) + 1)
        found = shortest_fitting_prefix(ordered, bounds, first, self._release, self._restore, fits)
        if found is None:
            return None
        hit, (_, placements) = found
        return self._needed(ordered[: hit + 1], placements, fits)

    def _node_by_node(self, request: JobRequest, ordered: list[Holding]) -> list[Holding]:
        """The victims regrouped node by node, the nodes that free room for a replica most cheaply
        (work lost per GPU they would have free) first, least work lost first within a node: a gang
        then empties a few nodes instead of nibbling at many."""
        groups: dict[str, list[Holding]] = {}
        for h in ordered:
            groups.setdefault(h.placements[0].node_id, []).append(h)
        gone = {h.request.job_id for h in ordered} | {h.request.job_id for h in self._going()}
        ranked = []
        for node_id, victims in groups.items():
            free_after = sum(1 for used in self._ws.occupancy(node_id, exclude=gone) if used == 0)
            cost = sum(self._lost[h.request.job_id] for h in victims)
            useless = not self._ws.nodes[node_id].schedulable or free_after < request.gpus_per_replica
            ranked.append((useless, cost / max(1, free_after), node_id, victims))
        ranked.sort(key=lambda r: r[:3])
        return [h for *_, victims in ranked for h in victims]

    def _needed(
        self, chosen: list[Holding], placements: tuple[ReplicaPlacement, ...], fits: Fits
    ) -> list[Holding]:
        """Spare the victims on nodes the job does not use, if it still fits without their GPUs."""
        used = {p.node_id for p in placements}
        needed = [h for h in chosen if any(p.node_id in used for p in h.placements)]
        if len(needed) == len(chosen):
            return chosen
        for h in needed:
            self._release(h)
        try:
            return needed if fits() is not None else chosen
        finally:
            for h in needed:
                self._restore(h)

    def _first_possible(
        self, request: JobRequest, flavors: tuple[str, ...], ordered: list[Holding]
    ) -> int | None:
        """The first prefix of victims (as an index) whose GPUs, with the free ones, could cover the
        job in some flavor; None if even all of them could not."""
        if not ordered:
            return None
        if request.gpu_milli < WHOLE_GPU:
            return 0
        needed = request.gpu_demand_milli
        free = {f: self._ws.cluster.free_gpus(f) * WHOLE_GPU for f in flavors}
        for i, h in enumerate(ordered):
            free[h.flavor] += h.request.gpu_demand_milli
            if free[h.flavor] >= needed:
                return i
        return None

    def _eligible(self, victim: Holding, request: JobRequest, rank: tuple[float, ...]) -> bool:
        if victim.departing or victim.request.job_id in self.claimed:
            return False
        lower = self._ranks[victim.request.job_id] < rank and self._order.ahead_of(
            request, victim.request, victim.flavor
        )
        victim_queue, flavor = victim.request.project_id, victim.flavor
        if victim_queue == request.project_id:
            return lower
        if self._ledger.over_nominal(victim_queue, flavor):
            return lower or self._ledger.within_nominal_after(
                request.project_id, flavor, request.gpu_demand_milli
            )
        return lower and not self._ledger.has_quota(victim_queue, flavor)

    def _release(self, h: Holding) -> None:
        self._ws.release(h)
        self._ledger.add(h.request, h.flavor, sign=-1)

    def _restore(self, h: Holding) -> None:
        self._ws.restore(h)
        self._ledger.add(h.request, h.flavor)

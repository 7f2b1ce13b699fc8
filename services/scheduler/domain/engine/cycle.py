"""One scheduling cycle: a snapshot in, decisions out ("decide, then act": docs/architecture.md).

Steps:
1. What runs: stop jobs past their maximum runtime (or whose budget is gone, if the pool says so),
   requeue jobs on nodes that vanished, and load the rest into the cluster and the quota ledger.
2. Gates (gating.py): fail requests that can never run; hold jobs waiting on dependencies or on a
   budget.
3. Order the eligible jobs by the pool's queueing policy.
4. For each job in that order: check quota per acceptable flavor, ask the placement policy for the
   whole gang (quota is committed only with a placement); if it is blocked, try preemption (the free
   GPUs the job then counts on are kept from later jobs), then a reservation; later jobs backfill
   only where they cannot delay a reservation. Jobs that could start only by borrowing come last.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.scheduler.domain.engine.admission import gpu_text
from services.scheduler.domain.engine.backfill import Reservations
from services.scheduler.domain.engine.cache import EngineCache
from services.scheduler.domain.engine.gating import Gate
from services.scheduler.domain.engine.holds import Holds
from services.scheduler.domain.engine.model import (
    Decision,
    Decisions,
    HoldKind,
    JobRequest,
    Place,
    Preempt,
    Reserve,
    Snapshot,
)
from services.scheduler.domain.engine.placement_api import ClusterView, PlacementPolicy
from services.scheduler.domain.engine.placement_source import (
    KeptCluster,
    checkin_cluster,
    checkout_cluster,
    named_placement,
)
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.preemption import Preemptor
from services.scheduler.domain.engine.queueing import JobOrder, build_order, rank_function
from services.scheduler.domain.engine.quota import UNLIMITED, QuotaLedger, QuotaVerdict
from services.scheduler.domain.engine.running import RunningScan
from services.scheduler.domain.engine.running_index import RunningIndex
from services.scheduler.domain.engine.workspace import Holding, PlacementResult, Workspace


def decide(
    snapshot: Snapshot,
    policy: PoolPolicy,
    *,
    placement: PlacementPolicy | None = None,
    cluster: ClusterView | None = None,
    running: RunningIndex | None = None,
    cache: EngineCache | None = None,
) -> Decisions:
    """The decisions of one cycle. Pure: the same snapshot and policy always give the same decisions,
    whatever `cache` holds.

    `cache` is what the engine keeps from one call to the next (see cache.py): a caller deciding the
    same fleet cycle after cycle passes the same one, and a cycle then costs what changed, not the
    fleet's size (without it, everything is built afresh). Without `cluster`, the cluster state is
    the snapshot's, kept in the cache and brought up to date by difference (see placement_source).
    `cluster`, when given, must hold the snapshot's nodes with its running jobs committed, as
    ClusterState.from_snapshot builds it (a caller that keeps one up to date, like the simulator);
    decide() leaves it with its Place decisions committed and nothing else changed. Likewise
    `running`, when given, must index exactly the snapshot's running jobs (the very objects); without
    it the cache's is brought up to date by identity. `placement` overrides the policy named by
    `policy.placement`.
    """
    return _Cycle(
        snapshot, policy, placement, cluster, running, EngineCache() if cache is None else cache
    ).run()


def _shape(request: JobRequest, flavors: tuple[str, ...]) -> tuple[object, ...]:
    """What placement depends on: jobs of one shape fit or not alike within a cycle."""
    return (
        flavors,
        request.replicas,
        request.gpus_per_replica,
        request.gpu_milli,
        request.cpu_milli_per_replica,
        request.memory_mib_per_replica,
    )


_UNLIMITED_FLAVORS: dict[str, QuotaVerdict] = {}  # a queue without quotas: every flavor is UNLIMITED


class _Cycle:
    def __init__(
        self,
        snapshot: Snapshot,
        policy: PoolPolicy,
        placement: PlacementPolicy | None,
        cluster: ClusterView | None,
        running: RunningIndex | None,
        cache: EngineCache,
    ) -> None:
        self.snapshot = snapshot
        self.policy = policy
        self.now = snapshot.now
        self.out: list[Decision] = []
        cache.claim(snapshot.nodes)
        self._cache = cache
        self._holds = Holds(cache.holds)
        self.fleet = cache.fleet_flavors(snapshot.nodes)
        self.ledger = QuotaLedger(snapshot.queues)
        placement = placement or named_placement(policy.placement)
        self._checked_out: KeptCluster | None = None
        index, cluster = self._index_and_cluster(running, cluster)
        self.running = RunningScan(snapshot, index)
        self.ws = Workspace(self.fleet, cluster, placement, self.running.holdings, self.running.running_on)
        self.rank = rank_function(policy, snapshot)
        self.preemptor: Preemptor  # made with the order
        self.reservations = Reservations(self.ws, self.now)
        self.placed = 0
        self._failed_places: set[tuple[object, ...]] = set()
        self._failed_preemptions: set[tuple[object, ...]] = set()
        self._unplannable: set[tuple[object, ...]] = set()  # shapes no reservation can be found for
        self._strict_blockers: dict[str, str] = {}  # flavor -> blocked head job (backfill off)
        # Jobs by signature (see gating), and why jobs of a signature wait, until the free capacity
        # changes. The gate's memo is taken out of the cache until it is whole again.
        self._gate = Gate(cache.gate_memo)
        cache.gate_memo = None
        self._sig_of = self._gate.sig_of
        self._blocked: dict[tuple[int, tuple[str, ...]], tuple[HoldKind, str]] = {}
        # One job per shape (and queue, where quotas apply) of those considered so far that wait: ahead
        # of any later job, they would take GPUs that a preemption for the later job frees.
        self._waiting: dict[tuple[object, ...], tuple[JobRequest, tuple[str, ...]]] = {}

    def _index_and_cluster(
        self, running: RunningIndex | None, cluster: ClusterView | None
    ) -> tuple[RunningIndex, ClusterView]:
        """The cycle's running-job index and cluster state: the caller's, else the cache's (the cluster
        checked out of it until the cycle is through: a failure before check-in leaves none behind)."""
        if running is not None and cluster is not None:
            return running, cluster
        cache, snapshot = self._cache, self.snapshot
        own = cache.running_index(snapshot.running)
        if cluster is None:
            kept, cache.cluster = cache.cluster, None
            self._checked_out = checkout_cluster(kept, snapshot.nodes, snapshot.running, own)
            cluster = self._checked_out.cluster
        return (own if running is None else running), cluster

    def run(self) -> Decisions:
        self.running.scan(self.policy, self.ws.nodes, self.ledger, self.out)
        rank = self.rank if self.policy.preemption else None
        eligible = self._gate.pending(
            self.snapshot, self.fleet, self.ledger, self.running.ids, rank, self.out
        )
        self._cache.gate_memo = self._gate.memo
        held = self.running.index.held()
        order = build_order(self.policy, self.snapshot, eligible, held, self.fleet.capacity())
        self.preemptor = Preemptor(
            self.ws, self.running, self.ledger, self.rank, order, self.now, self.policy.min_runtime_s
        )
        # Jobs that can start only by borrowing come after all the others (as in Kueue): else a
        # borrower preempted to reclaim a queue's nominal quota would take its GPUs straight back.
        borrowers: list[JobRequest] = []
        self._consider_all(order, order, borrowers)
        self._failed_preemptions.clear()  # the borrowers come earlier in the order than the last jobs
        self._consider_all(borrowers, order, None)
        self._hand_back_cluster()
        self._cache.holds = self._holds.made
        return Decisions(tuple(self.out))

    def _hand_back_cluster(self) -> None:
        """Leave the cluster holding the snapshot's running jobs and the Place decisions, so the next
        cycle can start from it."""
        self.reservations.release_all()
        if self._checked_out is not None:
            placed = [(h.request, h.placements) for h in self.ws.placed_this_cycle()]
            self._cache.cluster = checkin_cluster(self._checked_out, placed)

    # Each job ---------------------------------------------------------------------------------------

    def _consider_all(
        self, jobs: Iterable[JobRequest], order: JobOrder, borrowers: list[JobRequest] | None
    ) -> None:
        """Decide each job in turn; report those placed to the order. The hot loop of a busy pool."""
        blocked, sig_of, out, hold = self._blocked, self._sig_of, self.out, self._holds
        ignorable_key = self.reservations.ignorable_key
        limited = self.policy.max_placements_per_cycle is not None
        for request in jobs:
            if (limited or self._strict_blockers) and self._held_back(request):
                continue
            # Most pending jobs of a busy pool wait like one before them of the same signature: same
            # answer, until something is placed or reserved.
            sig = (sig_of[request.job_id], ignorable_key(request))
            why = blocked.get(sig)
            if why is not None:
                out.append(hold(request.job_id, *why))
                continue
            flavor = self._consider(request, sig, borrowers)
            if flavor is not None:
                order.admitted(request, flavor)

    def _held_back(self, request: JobRequest) -> bool:
        """Hold the job if this cycle's placement limit is reached, or a blocked job before it
        holds its flavors (strict order)."""
        limit = self.policy.max_placements_per_cycle
        if limit is not None and self.placed >= limit:
            self._hold(request, HoldKind.CAPACITY, f"this cycle's limit of {limit} placements was reached")
            return True
        flavors = self.fleet.acceptable(request)  # a cached lookup
        blocker = next((self._strict_blockers[f] for f in flavors if f in self._strict_blockers), None)
        if blocker is None:
            return False
        self._waits(request, flavors)
        self._hold(request, HoldKind.RESERVATION, f"waiting behind job {blocker} (strict order, no backfill)")
        return True

    def _consider(
        self, request: JobRequest, sig: tuple[int, tuple[str, ...]], borrowers: list[JobRequest] | None
    ) -> str | None:
        """Decide one eligible job; the flavor it was placed on, if it was. A job that could start only
        by borrowing is added to `borrowers` instead, when given."""
        flavors = self.fleet.acceptable(request)  # a cached lookup
        unlimited = self.ledger.unlimited(request.project_id)
        within: tuple[str, ...]
        borrowing: tuple[str, ...]
        if unlimited:
            verdicts, within, borrowing = _UNLIMITED_FLAVORS, flavors, ()
        else:
            verdicts = {f: self.ledger.check(request, f) for f in flavors}
            within = tuple(f for f in flavors if verdicts[f].allowed and not verdicts[f].borrowing)
            borrowing = tuple(f for f in flavors if verdicts[f].allowed and verdicts[f].borrowing)
        placed = self._try_place(request, within) if within else None
        if placed is None and borrowing:
            if borrowers is not None:
                borrowers.append(request)
                return None
            placed = self._try_place(request, borrowing)
        if placed is not None:
            result, used_reserved = placed
            self._commit(request, result, verdicts.get(result[0], UNLIMITED), used_reserved)
            return result[0]
        quota_blocked = not (within or borrowing)
        if self.policy.preemption and self._try_preempt(request, flavors, quota_blocked, unlimited):
            return None
        self._waits(request, flavors)
        why: tuple[HoldKind, str] | None
        if quota_blocked:
            why = (HoldKind.QUOTA, verdicts[flavors[0]].reason)
        else:
            why = self._capacity_blocked(request, within + borrowing)
        if why is not None:
            self._blocked[sig] = why
            self._hold(request, *why)
        return None

    def _changed(self) -> None:
        """The free capacity changed: what blocked jobs before may not block the next ones."""
        self._blocked.clear()

    def _try_place(
        self, request: JobRequest, flavors: tuple[str, ...]
    ) -> tuple[PlacementResult, bool] | None:
        key = (_shape(request, flavors), self.reservations.ignorable_key(request))
        if key in self._failed_places:
            return None
        result, used_reserved = self.reservations.find_place(request, flavors)
        if result is None:
            self._failed_places.add(key)
            return None
        return result, used_reserved

    def _commit(
        self, request: JobRequest, result: PlacementResult, quota: QuotaVerdict, used_reserved: bool
    ) -> None:
        flavor, placements = result
        end_at = None if request.max_runtime_s is None else self.now + request.max_runtime_s
        self.ws.place(Holding(request, flavor, placements, end_at))
        self.ledger.add(request, flavor)
        self.reservations.after_place(used_reserved)
        self.out.append(Place(request.job_id, flavor, placements, borrowing=quota.borrowing))
        self.placed += 1
        self._changed()

    def _try_preempt(
        self, request: JobRequest, flavors: tuple[str, ...], quota_blocked: bool, unlimited: bool
    ) -> bool:
        if not self.preemptor.worth_trying(request):
            return False
        # Victim rules depend on the job's queue only through its quota.
        key = (_shape(request, flavors), None if unlimited else request.project_id, self.rank(request))
        if key in self._failed_preemptions:
            return False

        def fits() -> PlacementResult | None:
            allowed = tuple(f for f in flavors if self.ledger.check(request, f).allowed)
            return self.ws.find_place(request, allowed) if allowed else None

        kept_back = self.reservations.kept_for_others(request)
        plan = self.preemptor.plan(request, flavors, fits, self._taken_first, kept_back)
        if plan is None:
            self._failed_preemptions.add(key)
            return False
        grace = self.policy.preemption_grace_s
        for victim in plan.victims:
            victim.departing = True
            victim.end_at = self.now + grace
            reason = self.preemptor.victim_reason(victim, request, self.policy.queueing)
            self.out.append(Preempt(victim.request.job_id, reason, grace_s=grace, for_job_id=request.job_id))
        holdings = self.ws.holdings
        back_at = [h.end_at for h in plan.victims] + [holdings[j].end_at for j in plan.awaited]
        self.reservations.keep_for(
            request, max((t for t in back_at if t is not None), default=self.now), plan.placement
        )
        self._changed()
        going = len(plan.victims) + len(plan.awaited)
        kind = HoldKind.QUOTA if quota_blocked else HoldKind.CAPACITY
        self._hold(request, kind, f"waiting for {going} preempted or stopping job(s) to release their GPUs")
        return True

    def _waits(self, request: JobRequest, flavors: tuple[str, ...]) -> None:
        project = None if self.ledger.unlimited(request.project_id) else request.project_id
        self._waiting.setdefault((_shape(request, flavors), project), (request, flavors))

    def _taken_first(self) -> bool:
        """Whether a job that waits ahead would fit now (the next cycle gives it the GPUs first)."""
        for request, flavors in self._waiting.values():
            allowed = tuple(f for f in flavors if self.ledger.check(request, f).allowed)
            if allowed and self.reservations.fits_with_own(request, allowed):
                return True
        return False

    def _capacity_blocked(self, request: JobRequest, flavors: tuple[str, ...]) -> tuple[HoldKind, str] | None:
        """Reserve for the job if it is the first blocked one (None), else why it waits."""
        if not self.policy.backfill:
            for f in flavors:
                self._strict_blockers.setdefault(f, request.job_id)
        plan_key = _shape(request, flavors)
        if (
            self.reservations.count(flavors) < self.policy.max_reservations
            and plan_key not in self._unplannable
        ):
            reservation = self.reservations.plan(request, flavors)
            if reservation is None:
                # It would not fit even with everything released: nor will another of its shape.
                self._unplannable.add(plan_key)
            else:
                self._changed()
                if reservation.start_at is not None:
                    self.out.append(Reserve(request.job_id, reservation.start_at, reservation.node_ids))
                else:
                    nodes = ", ".join(reservation.node_ids)
                    self._hold(
                        request,
                        HoldKind.CAPACITY,
                        f"nodes {nodes} are kept for this job as they free up; no start time can be planned "
                        "as the jobs on them declare no maximum runtime",
                    )
                return None
        return self._blocked_reason(request, flavors)

    def _blocked_reason(self, request: JobRequest, flavors: tuple[str, ...]) -> tuple[HoldKind, str]:
        blocking = self.reservations.blocking(request, flavors)
        if blocking is not None:
            when = "" if blocking.start_at is None else f" from t={blocking.start_at:g}"
            reason = f"the free GPUs are reserved for job {blocking.request.job_id}{when}; starting now would delay it"
            return HoldKind.RESERVATION, reason
        return (
            HoldKind.CAPACITY,
            f"not enough free GPUs for {request.replicas} replica(s) of {gpu_text(request)} ({', '.join(flavors)})",
        )

    def _hold(self, request: JobRequest, kind: HoldKind, reason: str) -> None:
        self.out.append(self._holds(request.job_id, kind, reason))

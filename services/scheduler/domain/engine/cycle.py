"""One scheduling cycle: a snapshot in, decisions out (DESIGN.md section 4, "decide, then act").

Steps:
1. What runs: stop jobs past their maximum runtime (or whose budget is gone, if the pool says so),
   requeue jobs on nodes that vanished, and load the rest into the cluster and the quota ledger.
2. Gates: fail requests that can never run; hold jobs waiting on dependencies or on a budget.
3. Order the eligible jobs by the pool's queueing policy.
4. For each job in that order: check quota per acceptable flavor, ask the placement policy for the
   whole gang (quota is committed only with a placement); if it is blocked, try preemption, then a
   reservation; later jobs backfill only where they cannot delay a reservation.
"""

from __future__ import annotations

from dataclasses import replace

from services.scheduler.domain.engine.admission import (
    budget_gate,
    dependency_gate,
    gpu_text,
    queue_gate,
    shape_gate,
)
from services.scheduler.domain.engine.backfill import Reservations
from services.scheduler.domain.engine.flavors import fleet_flavors
from services.scheduler.domain.engine.model import (
    Decision,
    Decisions,
    Fail,
    Hold,
    HoldKind,
    JobRequest,
    Place,
    Preempt,
    Reserve,
    Snapshot,
)
from services.scheduler.domain.engine.placement_api import ClusterView, PlacementPolicy
from services.scheduler.domain.engine.placement_source import (
    checkin_cluster,
    checkout_cluster,
    named_placement,
)
from services.scheduler.domain.engine.policy import PoolPolicy
from services.scheduler.domain.engine.preemption import Preemptor
from services.scheduler.domain.engine.queueing import build_order, rank_function
from services.scheduler.domain.engine.quota import UNLIMITED, QuotaLedger, QuotaVerdict
from services.scheduler.domain.engine.running import RunningScan
from services.scheduler.domain.engine.workspace import Holding, PlacementResult, Workspace


def decide(
    snapshot: Snapshot,
    policy: PoolPolicy,
    *,
    placement: PlacementPolicy | None = None,
    cluster: ClusterView | None = None,
) -> Decisions:
    """The decisions of one cycle. Pure: the same snapshot and policy always give the same decisions.

    Without `cluster`, the cluster state is the snapshot's, kept from the previous call (per thread)
    and brought up to date by difference (see placement_source), so a cycle costs what changed, not
    the fleet's size. `cluster`, when given, must hold the snapshot's nodes with its running jobs
    committed, as ClusterState.from_snapshot builds it (a caller that keeps one up to date, like the
    simulator); decide() leaves it with its Place decisions committed and nothing else changed.
    `placement` overrides the policy named by `policy.placement`.
    """
    return _Cycle(snapshot, policy, placement, cluster).run()


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
    ) -> None:
        self.snapshot = snapshot
        self.policy = policy
        self.now = snapshot.now
        self.out: list[Decision] = []
        self.fleet = fleet_flavors(snapshot.nodes)
        self.ledger = QuotaLedger(snapshot.queues)
        placement = placement or named_placement(policy.placement)
        self._own_cluster = cluster is None
        if cluster is None:
            cluster = checkout_cluster(snapshot.nodes, snapshot.running)
        self.running = RunningScan(snapshot)
        self.ws = Workspace(self.fleet, cluster, placement, self.running.holdings)
        self.rank = rank_function(policy, snapshot)
        self.preemptor = Preemptor(
            self.ws, self.running, self.ledger, self.rank, self.now, policy.min_runtime_s
        )
        self.reservations = Reservations(self.ws, self.now)
        self.placed = 0
        self._failed_places: set[tuple[object, ...]] = set()
        self._failed_preemptions: set[tuple[object, ...]] = set()
        self._unplannable: set[tuple[object, ...]] = set()  # shapes no reservation can be found for
        self._strict_blockers: dict[str, str] = {}  # flavor -> blocked head job (backfill off)
        # Jobs by signature (see _gate_pending), and why jobs of a signature wait, until the free
        # capacity changes.
        self._signatures: dict[tuple[object, ...], int] = {}
        self._sig_of: dict[str, int] = {}
        self._blocked: dict[tuple[int, tuple[str, ...]], tuple[HoldKind, str]] = {}

    def run(self) -> Decisions:
        self.running.scan(self.policy, self.ws.nodes, self.ledger, self.out)
        eligible = self._gate_pending()
        order = build_order(self.policy, self.snapshot, eligible)
        for request in order:
            flavor = self._consider(request)
            if flavor is not None:
                order.admitted(request, flavor)
        self._hand_back_cluster()
        return Decisions(tuple(self.out))

    def _hand_back_cluster(self) -> None:
        """Leave the cluster holding the snapshot's running jobs and the Place decisions, so the next
        cycle can start from it."""
        self.reservations.release_all()
        if self._own_cluster:
            placed = [(h.request, h.placements) for h in self.ws.placed_this_cycle()]
            checkin_cluster(self.ws.cluster, placed)

    # 1. What runs ----------------------------------------------------------------------------------

    # 2. Gates --------------------------------------------------------------------------------------

    def _gate_pending(self) -> list[JobRequest]:
        """The pending jobs that may compete for GPUs; a decision for each of the others. Also gives
        each job its signature: everything but its identity that its outcome depends on."""
        snapshot, ledger = self.snapshot, self.ledger
        outcomes = dict(snapshot.outcomes)
        exhausted = snapshot.budget_exhausted
        running_ids = self.running.ids
        rank = self.rank if self.policy.preemption else None
        signatures = self._signatures
        sig_of = self._sig_of
        gated: dict[int, Hold | Fail | None] = {}  # what a signature's shape alone implies
        eligible: list[JobRequest] = []
        for request in snapshot.pending:
            job_id = request.job_id
            if job_id in running_ids:
                continue  # already running: a stale pending entry
            project = request.project_id
            sig = (
                request.gpu_models,
                request.replicas,
                request.gpus_per_replica,
                request.gpu_milli,
                request.cpu_milli_per_replica,
                request.memory_mib_per_replica,
                # Only whether it declares a maximum runtime, and a bad one; its length matters only
                # against reservations, which the memo key adds.
                request.max_runtime_s is None or request.max_runtime_s <= 0,
                None if ledger.unlimited(project) else project,
                None if rank is None else rank(request),
            )
            sig_id = signatures.get(sig)
            if sig_id is None:
                sig_id = signatures[sig] = len(signatures)
                verdict = gated[sig_id] = shape_gate(request, self.fleet.acceptable(request), self.fleet)
            else:
                verdict = gated[sig_id]
                if verdict is not None:
                    verdict = replace(verdict, job_id=job_id)
            if verdict is None:
                spec = ledger.spec(project)
                verdict = (
                    (queue_gate(request, spec) if spec is not None else None)
                    or (dependency_gate(request, outcomes) if request.depends_on else None)
                    or (budget_gate(request, exhausted) if exhausted else None)
                )
            if verdict is None:
                sig_of[job_id] = sig_id
                eligible.append(request)
            else:
                self.out.append(verdict)
        return eligible

    # 3. One job ------------------------------------------------------------------------------------

    def _consider(self, request: JobRequest) -> str | None:
        """Decide one eligible job; the flavor it was placed on, if it was."""
        limit = self.policy.max_placements_per_cycle
        if limit is not None and self.placed >= limit:
            self._hold(request, HoldKind.CAPACITY, f"this cycle's limit of {limit} placements was reached")
            return None
        flavors = self.fleet.acceptable(request)  # a cached lookup
        if self._strict_blockers:
            blocker = next((self._strict_blockers[f] for f in flavors if f in self._strict_blockers), None)
            if blocker is not None:
                self._hold(
                    request, HoldKind.RESERVATION, f"waiting behind job {blocker} (strict order, no backfill)"
                )
                return None
        # Most pending jobs of a busy pool wait like one before them of the same signature: same
        # answer, until something is placed or reserved.
        sig = (self._sig_of[request.job_id], self.reservations.ignorable_key(request))
        why = self._blocked.get(sig)
        if why is not None:
            self._hold(request, *why)
            return None
        unlimited = self.ledger.unlimited(request.project_id)
        within: tuple[str, ...]
        borrowing: tuple[str, ...]
        if unlimited:
            verdicts, within, borrowing = _UNLIMITED_FLAVORS, flavors, ()
        else:
            verdicts = {f: self.ledger.check(request, f) for f in flavors}
            within = tuple(f for f in flavors if verdicts[f].allowed and not verdicts[f].borrowing)
            borrowing = tuple(f for f in flavors if verdicts[f].allowed and verdicts[f].borrowing)
        for group in (within, borrowing):
            placed = self._try_place(request, group) if group else None
            if placed is not None:
                result, used_reserved = placed
                self._commit(request, result, verdicts.get(result[0], UNLIMITED), used_reserved)
                return result[0]
        quota_blocked = not (within or borrowing)
        if self.policy.preemption and self._try_preempt(request, flavors, quota_blocked, unlimited):
            return None
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

        plan = self.preemptor.plan(request, flavors, fits)
        if plan is None:
            self._failed_preemptions.add(key)
            return False
        grace = self.policy.preemption_grace_s
        for victim in plan.victims:
            victim.departing = True
            victim.end_at = self.now + grace
            reason = self.preemptor.victim_reason(victim, request, self.policy.queueing)
            self.out.append(Preempt(victim.request.job_id, reason, grace_s=grace, for_job_id=request.job_id))
        going = len(plan.victims) + len(plan.awaited)
        kind = HoldKind.QUOTA if quota_blocked else HoldKind.CAPACITY
        self._hold(request, kind, f"waiting for {going} preempted or stopping job(s) to release their GPUs")
        return True

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
        self.out.append(Hold(request.job_id, reason, kind))

"""Which pending jobs compete for GPUs this cycle, and the signature of each.

A job's signature is everything but its identity that its outcome in a cycle depends on: its shape,
whether it declares a maximum runtime, its queue where quotas apply, and its preemption rank. Jobs
of one signature fit, wait or fail alike (the cycle then decides most of them with one lookup), and
the shape gate is asked once per signature.

Every pending job passes here every cycle, and a busy pool's queue barely changes from one cycle to
the next. So while the fleet, the queues and the rank function stay the same, each request object's
signature number and shape and queue verdict are kept (in the caller's EngineCache) and only new
requests are classified; dependencies and budgets, which change with the snapshot, are checked every
cycle.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from services.scheduler.domain.engine.admission import budget_gate, dependency_gate, queue_gate, shape_gate
from services.scheduler.domain.engine.flavors import FleetFlavors
from services.scheduler.domain.engine.model import Decision, Fail, Hold, JobRequest, QueueSpec, Snapshot
from services.scheduler.domain.engine.queueing import RankFn, priority_rank
from services.scheduler.domain.engine.quota import QuotaLedger

Signature = tuple[object, ...]
Verdict = Hold | Fail | None
# id(request) -> (request, signature number, verdict of its shape and queue); holding the request
# keeps its id unique
Known = dict[int, tuple[JobRequest, int, Verdict]]


class GateMemo:
    __slots__ = ("fleet", "known", "numbers", "queues", "rank", "shape_verdicts")  # see Gate

    def __init__(self, fleet: FleetFlavors, queues: tuple[QueueSpec, ...], rank: RankFn | None) -> None:
        self.fleet, self.queues, self.rank = fleet, queues, rank
        self.numbers: dict[Signature, int] = {}
        self.shape_verdicts: dict[int, Verdict] = {}
        self.known: Known = {}

    def fits(self, fleet: FleetFlavors, queues: tuple[QueueSpec, ...], rank: RankFn | None) -> bool:
        """Whether it holds for this cycle: the same fleet and queues, a rank of the request alone."""
        return (
            fleet is self.fleet
            and rank is self.rank
            and rank in (None, priority_rank)
            and (queues is self.queues or queues == self.queues)
        )


class Gate:
    """Each eligible job's signature number is in `sig_of` (equal numbers: equal signatures). `memo`:
    the last cycle's (None for none), and this cycle's once `pending` has run."""

    def __init__(self, memo: GateMemo | None) -> None:
        self.sig_of: dict[str, int] = {}
        self.memo = memo

    def pending(
        self,
        snapshot: Snapshot,
        fleet: FleetFlavors,
        ledger: QuotaLedger,
        running_ids: Collection[str],
        rank: RankFn | None,
        out: list[Decision],
    ) -> list[JobRequest]:
        """The pending jobs that may compete for GPUs, in snapshot order; a decision in `out` for each
        of the others. `rank` only where the pool preempts."""
        memo = self.memo
        if memo is None or not memo.fits(fleet, snapshot.queues, rank):
            memo = GateMemo(fleet, snapshot.queues, rank)
        known = memo.known
        if len(known) > 2 * len(snapshot.pending) + 1000:  # forget requests long gone
            known.clear()
        outcomes = dict(snapshot.outcomes) if snapshot.outcomes else {}
        exhausted = snapshot.budget_exhausted
        sig_of = self.sig_of
        eligible: list[JobRequest] = []
        for request in snapshot.pending:
            job_id = request.job_id
            if job_id in running_ids:
                continue  # already running: a stale pending entry
            entry = known.get(id(request))
            if entry is None or entry[0] is not request:
                entry = known[id(request)] = _classify(request, memo, fleet, ledger, rank)
            verdict = entry[2]
            if verdict is None and (request.depends_on or exhausted):
                verdict = (dependency_gate(request, outcomes) if request.depends_on else None) or (
                    budget_gate(request, exhausted) if exhausted else None
                )
            if verdict is None:
                sig_of[job_id] = entry[1]
                eligible.append(request)
            else:
                out.append(verdict)
        self.memo = memo
        return eligible


def _classify(
    request: JobRequest, memo: GateMemo, fleet: FleetFlavors, ledger: QuotaLedger, rank: RankFn | None
) -> tuple[JobRequest, int, Verdict]:
    project = request.project_id
    sig = (
        request.gpu_models,
        request.replicas,
        request.gpus_per_replica,
        request.gpu_milli,
        request.cpu_milli_per_replica,
        request.memory_mib_per_replica,
        # Only whether it declares a maximum runtime, and a bad one; its length matters only against
        # reservations, which the cycle's memo key adds.
        request.max_runtime_s is None or request.max_runtime_s <= 0,
        None if ledger.unlimited(project) else project,
        None if rank is None else rank(request),
    )
    number = memo.numbers.get(sig)
    if number is None:
        number = memo.numbers[sig] = len(memo.numbers)
        verdict = memo.shape_verdicts[number] = shape_gate(request, fleet.acceptable(request), fleet)
    else:  # the shape of an earlier job of the signature: the same verdict
        verdict = memo.shape_verdicts[number]
        if verdict is not None:
            verdict = replace(verdict, job_id=request.job_id)
    if verdict is None:
        spec = ledger.spec(project)
        verdict = queue_gate(request, spec) if spec is not None else None
    return request, number, verdict

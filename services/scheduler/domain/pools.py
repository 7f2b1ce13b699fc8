"""Pools: the engine decides each pool on its own nodes and jobs, with the pool's own policy.

A node belongs to the pool its `pool` label names, a job to the pool its spec names ("default" when
unnamed). A cycle splits the live state by pool and takes one snapshot and one decide() per pool:
- a pool's snapshot holds its nodes, its pending jobs and the jobs holding GPUs on its nodes (a job
  holding GPUs in two pools, after a node changed pool, is in both, with its replicas there);
- quotas are per project and GPU model over all pools: a pool decides on what the quota leaves after
  what the project holds in other pools, including what pools decided before it placed this cycle;
- jobs of a pool that has no nodes wait, saying so; no decide() runs for them.
A pool is decided only when a job waits in it or a job holding its GPUs declares a maximum runtime.

A pool whose snapshot or decision raises has the pending jobs that make it raise found (by halving its
queue) and set aside, failed with the reason, and is decided without them: one job's bad request never
stops scheduling for the others. Should more than a few jobs raise, or none alone, the fault is not a
job's: the error stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from services.scheduler.domain.actions import to_actions
from services.scheduler.domain.engine import EngineCache, PoolPolicy, decide
from services.scheduler.domain.engine.model import Decision, Decisions, Hold, HoldKind, JobRequest
from services.scheduler.domain.model import (
    Actions,
    FleetNode,
    HoldingJob,
    LiveState,
    ProjectQuota,
    QueuedJob,
    SetAside,
    UsageHistory,
)
from services.scheduler.domain.snapshot import FleetIndex, SnapshotBuilder
from shared.events.jobs import DEFAULT_POOL

T = TypeVar("T")
QuotaKey = tuple[str, str]  # (project, GPU model)

# More jobs than this raising in one pool's cycle is a fault of the engine, not of jobs: none is set aside.
MAX_SET_ASIDE = 8


@dataclass(frozen=True)
class PoolPolicies:
    """The default policy, for every pool not named, and the named pools' own."""

    default: PoolPolicy = PoolPolicy()
    named: Mapping[str, PoolPolicy] = field(default_factory=dict)

    def of(self, pool: str) -> PoolPolicy:
        return self.named.get(pool, self.default)

    @property
    def any_las(self) -> bool:
        """Whether some pool orders by least attained service (the cycle then reads it)."""
        return any(p.queueing == "las" for p in (self.default, *self.named.values()))


def reads_by_priority(policy: PoolPolicy) -> bool:
    """Whether a pool's queue is read, and cut at the cycle's limit, by priority class then submission
    (by submission only under fifo)."""
    return policy.queueing != "fifo"


class PoolDecider:
    """Decides every pool of the live state, cycle after cycle, keeping per pool what its snapshot
    builder reuses (each pool's nodes stay the same tuple while the fleet does) and what the engine
    keeps between the pool's cycles (its EngineCache)."""

    def __init__(self, policies: PoolPolicies) -> None:
        self.policies = policies
        self._builders: dict[str, SnapshotBuilder] = {}
        self._caches: dict[str, EngineCache] = {}
        self._fleet: tuple[FleetNode, ...] | None = None
        self._pool_nodes: dict[str, tuple[FleetNode, ...]] = {}
        self._pool_of: dict[str, str] = {}  # node id -> pool
        self._fallback = DEFAULT_POOL

    def decide(self, state: LiveState, history: UsageHistory) -> Actions:
        nodes = self._nodes_by_pool(state.nodes)
        pending = _grouped(state.pending, lambda job: job.pool)
        holding, use = self._holding_by_pool(state.holding)
        timed = {
            pool
            for pool, jobs in holding.items()
            if pool not in pending and any(_must_end_in_time(job) for job in jobs)
        }
        parts = []
        for pool in sorted(pending.keys() | timed):
            pool_state = replace(
                state,
                nodes=nodes.get(pool, ()),
                pending=pending.get(pool, ()),
                holding=holding.get(pool, ()),
            )
            actions = self._decide_setting_aside(pool, pool_state, history, use)
            for bind in actions.binds:
                use.add((pool,), bind.job.request, bind.gpu_model)
            parts.append(actions)
        decided = merged(parts)
        return replace(decided, set_aside=state.set_aside + decided.set_aside) if state.set_aside else decided

    def _decide_setting_aside(
        self, pool: str, state: LiveState, history: UsageHistory, use: QuotaUse
    ) -> Actions:
        try:
            return self._try_pool(pool, state, history, use)
        except Exception:
            # Whatever a job's request makes the snapshot or the engine raise (see the module's docstring).
            raising = self._raising(pool, state, history, use, state.pending)
            if not raising or len(raising) > MAX_SET_ASIDE:
                raise
        kept = tuple(job for job in state.pending if job.request.job_id not in raising)
        actions = self._try_pool(pool, replace(state, pending=kept), history, use)
        set_aside = tuple(
            SetAside.of(job, raising[job.request.job_id])
            for job in state.pending
            if job.request.job_id in raising
        )
        return replace(actions, set_aside=actions.set_aside + set_aside)

    def _raising(
        self, pool: str, state: LiveState, history: UsageHistory, use: QuotaUse, jobs: Sequence[QueuedJob]
    ) -> dict[str, str]:
        """The pending jobs among `jobs` that make the pool's decision raise alone: job id -> why."""
        try:
            self._try_pool(pool, replace(state, pending=tuple(jobs)), history, use)
            return {}
        except Exception as error:
            if len(jobs) == 1:
                return {jobs[0].request.job_id: f"scheduling it fails ({type(error).__name__}: {error})"}
        half = len(jobs) // 2
        if half == 0:
            return {}
        found = self._raising(pool, state, history, use, jobs[:half])
        if len(found) <= MAX_SET_ASIDE:
            found |= self._raising(pool, state, history, use, jobs[half:])
        return found

    def _try_pool(self, pool: str, state: LiveState, history: UsageHistory, use: QuotaUse) -> Actions:
        try:
            return self._decide_pool(pool, state, history, use)
        except Exception:
            # What the pool's builder and engine cache kept may be half-updated: start them afresh.
            self._builders.pop(pool, None)
            self._caches.pop(pool, None)
            raise

    def _decide_pool(self, pool: str, state: LiveState, history: UsageHistory, use: QuotaUse) -> Actions:
        if not state.nodes:
            no_nodes = (
                Hold(j.request.job_id, f"pool {pool} has no nodes", HoldKind.CAPACITY) for j in state.pending
            )
            return to_actions(Decisions(tuple(no_nodes)), state, FleetIndex(()))
        policy = self.policies.of(pool)
        elsewhere = use.elsewhere(pool)
        jobs = [j.request.job_id for j in state.pending] + [j.request.job_id for j in state.holding]
        state = replace(
            state,
            quotas=quotas_left(state.quotas, elsewhere),
            attained_service=(
                {
                    job_id: state.attained_service[job_id]
                    for job_id in jobs
                    if job_id in state.attained_service
                }
                if policy.queueing == "las"
                else {}
            ),
        )
        snapshot, fleet = self._builders.setdefault(pool, SnapshotBuilder()).build(state, history)
        cache = self._caches.get(pool)
        if cache is None:
            cache = self._caches[pool] = EngineCache()
        decisions = decide(snapshot, policy, cache=cache)
        if elsewhere:
            decisions = _quota_holds_explained(decisions, state.pending, elsewhere)
        return to_actions(decisions, state, fleet)

    def _nodes_by_pool(self, nodes: tuple[FleetNode, ...]) -> dict[str, tuple[FleetNode, ...]]:
        if nodes is not self._fleet:
            self._fleet = nodes
            self._pool_nodes = _grouped(nodes, lambda node: node.pool)
            self._pool_of = {node.node_id: node.pool for node in nodes}
            # A node no longer in the fleet (no GPU left): the fleet's only pool, else the default.
            self._fallback = next(iter(self._pool_nodes)) if len(self._pool_nodes) == 1 else DEFAULT_POOL
        return self._pool_nodes

    def _holding_by_pool(
        self, holding: tuple[HoldingJob, ...]
    ) -> tuple[dict[str, tuple[HoldingJob, ...]], QuotaUse]:
        """Each job holding GPUs in the pool of its nodes, and the pools' quota use. A fleet of one
        pool has nothing to split: the state's own tuple, and no use in another pool."""
        use = QuotaUse()
        if len(self._pool_nodes) <= 1:
            return ({self._fallback: holding} if holding else {}), use
        pool_of, fallback = self._pool_of, self._fallback
        groups: dict[str, list[HoldingJob]] = {pool: [] for pool in (*self._pool_nodes, fallback)}
        counts: dict[tuple[str, str, str], int] = {}  # (pool, project, model) -> GPUs, one pool's jobs
        for job in holding:
            replicas = job.replicas
            pool = pool_of.get(replicas[0].node_id, fallback)
            if len(replicas) == 1 or all(pool_of.get(r.node_id, fallback) == pool for r in replicas):
                groups[pool].append(job)
                request = job.request
                key = (pool, request.project_id, replicas[0].gpu_model)
                counts[key] = counts.get(key, 0) + request.replicas * request.gpus_per_replica
                continue
            pools = {pool_of.get(r.node_id, fallback) for r in replicas}
            use.add(pools, job.request, replicas[0].gpu_model)
            for pool in pools:
                here = tuple(r for r in replicas if pool_of.get(r.node_id, fallback) == pool)
                groups[pool].append(HoldingJob(job.request, here))
        use.add_counts(counts)
        return {pool: tuple(jobs) for pool, jobs in groups.items() if jobs}, use


class QuotaUse:
    """GPUs each project holds per model, over all pools and in each. A pool's engine counts what its
    own snapshot holds, so it is given the quota less what the project holds in the other pools."""

    def __init__(self) -> None:
        self._all: dict[QuotaKey, int] = {}
        self._in: dict[str, dict[QuotaKey, int]] = {}

    def add(self, pools: Iterable[str], request: JobRequest, gpu_model: str) -> None:
        """Count a job in the pools whose snapshots hold it: its whole request, as the engine does."""
        key = (request.project_id, gpu_model)
        gpus = request.replicas * request.gpus_per_replica
        self._all[key] = self._all.get(key, 0) + gpus
        for pool in pools:
            inside = self._in.setdefault(pool, {})
            inside[key] = inside.get(key, 0) + gpus

    def add_counts(self, counts: Mapping[tuple[str, str, str], int]) -> None:
        """Count GPUs held by jobs of one pool each: (pool, project, model) -> GPUs."""
        for (pool, project, model), gpus in counts.items():
            key = (project, model)
            inside = self._in.setdefault(pool, {})
            inside[key] = inside.get(key, 0) + gpus
            self._all[key] = self._all.get(key, 0) + gpus

    def elsewhere(self, pool: str) -> dict[QuotaKey, int]:
        inside = self._in.get(pool, {})
        return {
            key: gpus - inside.get(key, 0) for key, gpus in self._all.items() if gpus > inside.get(key, 0)
        }


def quotas_left(
    quotas: Mapping[str, ProjectQuota], elsewhere: Mapping[QuotaKey, int]
) -> Mapping[str, ProjectQuota]:
    """Each project's quota less the GPUs it holds in other pools (never below zero)."""
    if not any(key[0] in quotas for key in elsewhere):
        return quotas
    left = dict(quotas)
    for project, quota in quotas.items():
        used = {model: elsewhere.get((project, model), 0) for model in quota.gpus}
        if any(used.values()):
            gpus = {model: max(0, limit - used[model]) for model, limit in quota.gpus.items()}
            left[project] = ProjectQuota(quota.tenant_id, gpus)
    return left


def _quota_holds_explained(
    decisions: Decisions, pending: Sequence[QueuedJob], elsewhere: Mapping[QuotaKey, int]
) -> Decisions:
    """Quota holds say what the project holds in other pools: the engine saw the quota less that."""
    projects = {job.request.job_id: job.request.project_id for job in pending}
    items: list[Decision] = []
    for decision in decisions.items:
        if isinstance(decision, Hold) and decision.kind is HoldKind.QUOTA:
            project = projects.get(decision.job_id)
            held = sorted((model, gpus) for (p, model), gpus in elsewhere.items() if p == project)
            if held:
                where = ", ".join(f"{gpus} {model}" for model, gpus in held)
                decision = replace(
                    decision, reason=f"{decision.reason} (after {where} GPUs it holds in other pools)"
                )
        items.append(decision)
    return Decisions(tuple(items))


def merged(parts: Sequence[Actions]) -> Actions:
    """The pools' actions together; a job holding GPUs in two pools is preempted or stopped once."""
    if len(parts) == 1:
        return parts[0]
    preemptions = {p.job_id: p for part in reversed(parts) for p in part.preemptions}
    stops = {s.job_id: s for part in reversed(parts) for s in part.stops if s.job_id not in preemptions}
    return Actions(
        binds=tuple(b for part in parts for b in part.binds),
        verdicts=tuple(v for part in parts for v in part.verdicts),
        preemptions=tuple(preemptions.values()),
        stops=tuple(stops.values()),
        set_aside=tuple(s for part in parts for s in part.set_aside),
    )


def _must_end_in_time(job: HoldingJob) -> bool:
    return job.request.max_runtime_s is not None and not job.stopping


def _grouped(items: tuple[T, ...], pool_of: Callable[[T], str]) -> dict[str, tuple[T, ...]]:
    """Items by pool, in their order; all in one pool: that pool holds the very same tuple."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(pool_of(item), []).append(item)
    if len(groups) == 1:
        return {pool: items for pool in groups}
    return {pool: tuple(group) for pool, group in groups.items()}

"""Small builders for engine scenarios: nodes, jobs, running jobs, queues, a snapshot, and decide()."""

from __future__ import annotations

from services.scheduler.domain.engine import EngineCache, PoolPolicy, decide
from services.scheduler.domain.engine.model import (
    Decisions,
    Dependency,
    FlavorQuota,
    Hold,
    HoldKind,
    JobOutcome,
    JobRequest,
    Node,
    Place,
    Preempt,
    QueueSpec,
    ReplicaPlacement,
    Reserve,
    RunningJob,
    Snapshot,
)

NOW = 100_000.0


def node(node_id: str, gpus: int = 8, model: str = "A100", **kwargs: object) -> Node:
    return Node(node_id, model, gpus, **kwargs)  # type: ignore[arg-type]


def nodes(count: int, gpus: int = 8, model: str = "A100", prefix: str = "n") -> tuple[Node, ...]:
    return tuple(node(f"{prefix}{i}", gpus, model) for i in range(count))


def job(
    job_id: str,
    gpus: int = 1,
    replicas: int = 1,
    *,
    project: str = "p1",
    tenant: str = "t1",
    submitted_at: float = 0.0,
    **kwargs: object,
) -> JobRequest:
    return JobRequest(
        job_id, tenant, project, submitted_at, replicas=replicas, gpus_per_replica=gpus, **kwargs
    )  # type: ignore[arg-type]


def running(
    request: JobRequest,
    on: str | list[tuple[str, tuple[int, ...]]],
    *,
    started_at: float = 0.0,
    flavor: str = "A100",
    last_checkpoint_at: float | None = None,
    first_gpu: int = 0,
) -> RunningJob:
    """A running job; `on` is a node id (replicas packed there from `first_gpu`) or explicit GPUs."""
    if isinstance(on, str):
        per = request.gpus_per_replica
        spots = [
            (on, tuple(range(first_gpu + r * per, first_gpu + (r + 1) * per)))
            for r in range(request.replicas)
        ]
    else:
        spots = on
    milli = request.gpu_milli if request.gpus_per_replica == 1 else 1000
    placements = tuple(ReplicaPlacement(r, n, g, milli) for r, (n, g) in enumerate(spots))
    return RunningJob(request, flavor, placements, started_at, last_checkpoint_at=last_checkpoint_at)


def queue(
    queue_id: str,
    tenant: str = "t1",
    *,
    cohort: str | None = None,
    weight: float = 1.0,
    nominal: int | None = None,
    borrowing_limit: int | None = None,
    lending_limit: int | None = None,
    flavor: str = "A100",
) -> QueueSpec:
    quotas = () if nominal is None else ((flavor, FlavorQuota(nominal, borrowing_limit, lending_limit)),)
    return QueueSpec(queue_id, tenant, cohort, weight, quotas)


def snapshot(
    node_list: tuple[Node, ...],
    pending: list[JobRequest] | tuple[JobRequest, ...] = (),
    run: list[RunningJob] | tuple[RunningJob, ...] = (),
    *,
    queues: tuple[QueueSpec, ...] = (),
    now: float = NOW,
    usage_history: dict[str, float] | None = None,
    outcomes: dict[str, JobOutcome] | None = None,
    budget_exhausted: set[str] | None = None,
    terminating: set[str] | None = None,
    attained: dict[str, float] | None = None,
) -> Snapshot:
    return Snapshot(
        now=now,
        nodes=node_list,
        queues=queues,
        pending=tuple(pending),
        running=tuple(run),
        usage_history=tuple((usage_history or {}).items()),
        outcomes=tuple((outcomes or {}).items()),
        budget_exhausted=frozenset(budget_exhausted or ()),
        terminating=frozenset(terminating or ()),
        attained_service=tuple((attained or {}).items()),
    )


# The engine's cache, carried from one scenario's cycle to the next as a live pool carries its own:
# the scenarios exercise what the engine keeps between cycles (one on another fleet finds it reset).
SHARED_CACHE = EngineCache()


def run_cycle(snap: Snapshot, cache: EngineCache | None = None, **policy: object) -> Decisions:
    """decide() with the pool policy's defaults, first-fit placement unless the test says otherwise,
    with `cache` (else the shared one)."""
    policy.setdefault("placement", "first_fit")
    return decide(snap, PoolPolicy(**policy), cache=SHARED_CACHE if cache is None else cache)  # type: ignore[arg-type]


def placed_ids(decisions: Decisions) -> list[str]:
    return [d.job_id for d in decisions.of_type(Place)]


def preempted_ids(decisions: Decisions) -> list[str]:
    return [d.job_id for d in decisions.of_type(Preempt)]


def hold_of(decisions: Decisions, job_id: str) -> Hold:
    holds = [d for d in decisions.of_type(Hold) if d.job_id == job_id]
    assert len(holds) == 1, f"expected one Hold for {job_id}, got {decisions.items}"
    return holds[0]


def hold_kind(decisions: Decisions, job_id: str) -> HoldKind | None:
    return hold_of(decisions, job_id).kind


def reserve_of(decisions: Decisions, job_id: str) -> Reserve:
    found = [d for d in decisions.of_type(Reserve) if d.job_id == job_id]
    assert len(found) == 1, f"expected one Reserve for {job_id}, got {decisions.items}"
    return found[0]


def decision_for(decisions: Decisions, job_id: str) -> object:
    found = [d for d in decisions.items if d.job_id == job_id]
    assert len(found) == 1, f"expected one decision for {job_id}, got {found}"
    return found[0]


def after_success(job_id: str) -> Dependency:
    return Dependency(job_id)

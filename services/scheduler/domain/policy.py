"""The placement policy: FIFO by submit time, first fit, gang placement, GPU model constraint, quotas.

- FIFO: jobs are considered oldest first.
- Gang: a job of R replicas x G GPUs is placed whole or not at all; each replica's G GPUs sit on one
  node (a "node chunk"); different replicas may use different nodes (or the same one, when it has room).
- Model: spec.gpu_models lists the acceptable models (empty = any); all replicas use one model. Models
  are tried in the listed order, or in name order when any model will do.
- Quota: per (project, GPU model), the most GPUs of that model the project may have bound at once.
  A project with no quota row for a model is unlimited on that model.
- First fit: nodes in node-id order, each filled with as many chunks as it has room for.
- A blocked job is skipped and later jobs still get their chance (no head-of-line blocking). This lets
  small jobs pass a big one, which can starve it; reservations come with the full policy engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.scheduler.domain.model import (
    Blocked,
    Decisions,
    Node,
    PendingJob,
    Placement,
    QuotaKey,
    ReplicaPlacement,
    Snapshot,
)


def decide(snapshot: Snapshot, now: datetime) -> Decisions:
    """Place what fits, in queue order; say why the rest waits. `now` is for time-aware policies."""
    del now  # FIFO needs no clock; kept in the signature the policy engine will share.
    free = _FreeGpus(snapshot.nodes)
    usage = dict(snapshot.usage)
    placements: list[Placement] = []
    blocked: list[Blocked] = []
    for job in sorted(snapshot.pending, key=lambda j: (j.submitted_at, j.job_id)):
        outcome = _place(job, free, snapshot.quotas, usage)
        if isinstance(outcome, Placement):
            placements.append(outcome)
            free.take(outcome)
            key = (job.project_id, outcome.gpu_model)
            usage[key] = usage.get(key, 0) + job.spec.total_gpus
        else:
            blocked.append(Blocked(job, outcome))
    return Decisions(placements=tuple(placements), blocked=tuple(blocked))


class _FreeGpus:
    """The free, healthy GPUs per node and model, shrinking as this cycle places jobs."""

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self._by_node: dict[str, dict[str, list[str]]] = {}
        models: set[str] = set()
        for node in sorted(nodes, key=lambda n: n.node_id):
            per_model: dict[str, list[str]] = {}
            for gpu in node.gpus:
                models.add(gpu.model)
                if gpu.usable:
                    per_model.setdefault(gpu.model, []).append(gpu.uuid)
            self._by_node[node.node_id] = per_model
        self.fleet_models = sorted(models)

    def find_chunks(
        self, model: str, replicas: int, gpus_per_replica: int
    ) -> list[tuple[str, list[str]]] | None:
        """First fit: (node, GPUs) for each replica, or None when the fleet has no room for all of them."""
        chunks: list[tuple[str, list[str]]] = []
        for node_id, per_model in self._by_node.items():
            available = per_model.get(model, [])
            fits = min(len(available) // gpus_per_replica, replicas - len(chunks))
            for i in range(fits):
                chunks.append((node_id, available[i * gpus_per_replica : (i + 1) * gpus_per_replica]))
            if len(chunks) == replicas:
                return chunks
        return None

    def take(self, placement: Placement) -> None:
        for replica in placement.replicas:
            bound = set(replica.gpu_uuids)
            per_model = self._by_node[replica.node_id]
            per_model[placement.gpu_model] = [u for u in per_model[placement.gpu_model] if u not in bound]


def _place(
    job: PendingJob, free: _FreeGpus, quotas: Mapping[QuotaKey, int], usage: Mapping[QuotaKey, int]
) -> Placement | str:
    """The job's placement, or the reason it waits."""
    spec = job.spec
    any_model = not spec.gpu_models
    candidates = free.fleet_models if any_model else list(dict.fromkeys(spec.gpu_models))
    quota_reasons: list[str] = []
    tried: list[str] = []
    for model in candidates:
        over_quota = _quota_reason(job, model, quotas, usage)
        if over_quota:
            quota_reasons.append(over_quota)
            continue
        tried.append(model)
        chunks = free.find_chunks(model, spec.replicas, spec.gpus_per_replica)
        if chunks is not None:
            replicas = tuple(
                ReplicaPlacement(replica=i, node_id=node_id, gpu_uuids=tuple(uuids))
                for i, (node_id, uuids) in enumerate(chunks)
            )
            return Placement(job=job, gpu_model=model, replicas=replicas)
    reasons: list[str] = []
    if tried or not quota_reasons:
        reasons.append(_capacity_reason(job, tried, any_model=any_model and not quota_reasons))
    return "; ".join(reasons + quota_reasons)


def _quota_reason(
    job: PendingJob, model: str, quotas: Mapping[QuotaKey, int], usage: Mapping[QuotaKey, int]
) -> str:
    key = (job.project_id, model)
    quota = quotas.get(key)
    if quota is None:
        return ""
    used = usage.get(key, 0)
    asks = job.spec.total_gpus
    if used + asks <= quota:
        return ""
    return f"quota: project {job.project_id} has {used} of {quota} {model} GPUs in use and asks {asks}"


def _capacity_reason(job: PendingJob, models: list[str], *, any_model: bool) -> str:
    spec = job.spec
    nodes = "no node" if spec.replicas == 1 else f"no {spec.replicas} nodes"
    gpus = "1 free GPU" if spec.gpus_per_replica == 1 else f"{spec.gpus_per_replica} free GPUs"
    which = "of any model" if any_model else f"of models [{', '.join(models)}]"
    return f"capacity: {nodes} with {gpus} {which}"

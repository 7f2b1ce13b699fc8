"""Quota accounting per queue and GPU flavor, with borrowing and lending inside a cohort.

Per (queue, flavor): `nominal` GPUs are guaranteed to the queue. Of its nominal, the queue lends at
most `lending_limit` (all of it when unset) to the other queues of its cohort; the rest is kept for
it alone. A queue may use more than its nominal, up to `borrowing_limit` more, while the cohort's lent
pool has room. Usage is counted in thousandths of a GPU, so fractional jobs count what they hold.

The ledger only answers "may this queue take this much of this flavor?"; whether the GPUs exist is
the placement's question. The engine asks both and commits usage only when both say yes, so quota is
never held by work that fragmentation then cannot place.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.scheduler.domain.engine.model import WHOLE_GPU, FlavorQuota, JobRequest, QueueSpec


def gpus(milli: int) -> str:
    """Thousandths of a GPU as a short GPU count for messages: 2500 -> '2.5'."""
    return f"{milli / WHOLE_GPU:g}"


@dataclass(frozen=True, slots=True)
class QuotaVerdict:
    allowed: bool
    borrowing: bool = False  # admitting it takes the queue beyond its nominal quota
    reason: str = ""  # why not, when not allowed


UNLIMITED = QuotaVerdict(True)


class QuotaLedger:
    def __init__(self, queues: tuple[QueueSpec, ...]) -> None:
        self._specs = {q.queue_id: q for q in queues}
        self._quota: dict[tuple[str, str], FlavorQuota] = {}
        self._members: dict[str, list[str]] = {}  # cohort -> queues
        for q in queues:
            for flavor, quota in q.quotas:
                self._quota[(q.queue_id, flavor)] = quota
            if q.cohort is not None:
                self._members.setdefault(q.cohort, []).append(q.queue_id)
        self._unlimited = {
            q.queue_id
            for q in queues
            if not q.quotas and q.cpu_milli_quota is None and q.memory_mib_quota is None
        }
        self._any_quota = bool(self._quota)
        self._borrowing_cache: tuple[int, bool] = (-1, False)
        self.version = 0  # changes whenever usage does
        self._gpu: dict[tuple[str, str], int] = {}  # (queue, flavor) -> milli in use
        self._cpu: dict[str, int] = {}
        self._memory: dict[str, int] = {}
        # (cohort, flavor) -> milli of the lent pool, and milli of it in use
        self._pool_size: dict[tuple[str, str], int] = {}
        self._pool_used: dict[tuple[str, str], int] = {}
        for cohort, members in self._members.items():
            for member in members:
                for flavor, quota in self._specs[member].quotas:
                    key = (cohort, flavor)
                    self._pool_size[key] = self._pool_size.get(key, 0) + _lendable(quota)

    # 1. Questions ----------------------------------------------------------------------------------

    def spec(self, queue_id: str) -> QueueSpec | None:
        return self._specs.get(queue_id)

    def any_limits(self) -> bool:
        """Whether any queue has a quota at all."""
        return len(self._unlimited) < len(self._specs)

    def unlimited(self, queue_id: str) -> bool:
        """Whether the queue has no quota at all (no spec, or one without any limit)."""
        return queue_id in self._unlimited or queue_id not in self._specs

    def has_quota(self, queue_id: str, flavor: str) -> bool:
        return (queue_id, flavor) in self._quota

    def over_nominal(self, queue_id: str, flavor: str) -> bool:
        """Whether the queue uses more of the flavor than its nominal quota (it is borrowing)."""
        quota = self._quota.get((queue_id, flavor))
        return quota is not None and self._gpu.get((queue_id, flavor), 0) > quota.nominal * WHOLE_GPU

    def within_nominal_after(self, queue_id: str, flavor: str, demand_milli: int) -> bool:
        """Whether the queue stays within its nominal quota after taking `demand_milli` more."""
        quota = self._quota.get((queue_id, flavor))
        return (
            quota is not None
            and self._gpu.get((queue_id, flavor), 0) + demand_milli <= quota.nominal * WHOLE_GPU
        )

    def any_borrowing(self) -> bool:
        if not self._any_quota:
            return False
        version, answer = self._borrowing_cache
        if version != self.version:
            answer = any(self.over_nominal(queue, flavor) for queue, flavor in self._quota)
            self._borrowing_cache = (self.version, answer)
        return answer

    def check(self, request: JobRequest, flavor: str) -> QuotaVerdict:
        """May the job's queue take the job's demand of `flavor` now?"""
        queue = request.project_id
        spec = self._specs.get(queue)
        if spec is None:
            return UNLIMITED
        cpu = request.cpu_milli_per_replica * request.replicas
        if spec.cpu_milli_quota is not None and self._cpu.get(queue, 0) + cpu > spec.cpu_milli_quota:
            return QuotaVerdict(
                False, reason=f"queue {queue} would exceed its CPU quota of {spec.cpu_milli_quota} milli-CPU"
            )
        memory = request.memory_mib_per_replica * request.replicas
        if spec.memory_mib_quota is not None and self._memory.get(queue, 0) + memory > spec.memory_mib_quota:
            return QuotaVerdict(
                False, reason=f"queue {queue} would exceed its memory quota of {spec.memory_mib_quota} MiB"
            )
        quota = self._quota.get((queue, flavor))
        if quota is None:
            return UNLIMITED
        used = self._gpu.get((queue, flavor), 0)
        after = used + request.gpu_demand_milli
        nominal = quota.nominal * WHOLE_GPU
        if after <= nominal:
            return QuotaVerdict(True)
        over = after - nominal
        if quota.borrowing_limit is not None and over > quota.borrowing_limit * WHOLE_GPU:
            return QuotaVerdict(
                False,
                reason=(
                    f"queue {queue} would use {gpus(after)} {flavor} GPUs: nominal quota {quota.nominal} "
                    f"plus borrowing limit {quota.borrowing_limit}"
                ),
            )
        if spec.cohort is None:
            return QuotaVerdict(
                False,
                reason=(
                    f"queue {queue} would use {gpus(after)} {flavor} GPUs, over its nominal quota of "
                    f"{quota.nominal}, and has no cohort to borrow from"
                ),
            )
        key = (spec.cohort, flavor)
        pool_after = self._pool_used.get(key, 0) - _pool_use(quota, used) + _pool_use(quota, after)
        size = self._pool_size.get(key, 0)
        if pool_after > size:
            return QuotaVerdict(
                False,
                reason=(
                    f"queue {queue} would borrow {gpus(over)} {flavor} GPUs but cohort {spec.cohort} "
                    f"has only {gpus(max(0, size - self._pool_used.get(key, 0)))} unused to lend"
                ),
            )
        return QuotaVerdict(True, borrowing=True)

    # 2. Changes ------------------------------------------------------------------------------------

    def add(self, request: JobRequest, flavor: str, sign: int = 1) -> None:
        """Count the job's usage (sign=1) or stop counting it (sign=-1)."""
        self.add_usage(
            request.project_id,
            flavor,
            sign * request.gpu_demand_milli,
            sign * request.cpu_milli_per_replica * request.replicas,
            sign * request.memory_mib_per_replica * request.replicas,
        )

    def add_usage(self, queue: str, flavor: str, gpu_milli: int, cpu_milli: int, memory_mib: int) -> None:
        """Count usage of a queue on a flavor (negative: stop counting it), of one job or of many."""
        spec = self._specs.get(queue)
        if spec is None or queue in self._unlimited:
            return
        self.version += 1
        self._cpu[queue] = self._cpu.get(queue, 0) + cpu_milli
        self._memory[queue] = self._memory.get(queue, 0) + memory_mib
        quota = self._quota.get((queue, flavor))
        if quota is None:
            return
        used = self._gpu.get((queue, flavor), 0)
        after = used + gpu_milli
        self._gpu[(queue, flavor)] = after
        if spec.cohort is not None:
            key = (spec.cohort, flavor)
            self._pool_used[key] = (
                self._pool_used.get(key, 0) - _pool_use(quota, used) + _pool_use(quota, after)
            )


def _lendable(quota: FlavorQuota) -> int:
    """Milli of the queue's nominal that the cohort may use (its own use of it included)."""
    if quota.lending_limit is None:
        return quota.nominal * WHOLE_GPU
    return min(quota.lending_limit, quota.nominal) * WHOLE_GPU


def _pool_use(quota: FlavorQuota, used_milli: int) -> int:
    """How much of the cohort's pool a queue's usage takes: all beyond what it keeps for itself."""
    kept = quota.nominal * WHOLE_GPU - _lendable(quota)
    return max(0, used_milli - kept)

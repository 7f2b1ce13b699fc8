"""A pool's scheduling policy: which queueing and placement policies run, and their parameters.

One PoolPolicy per pool, from configuration. Every field has a documented default, so
`PoolPolicy()` is a sensible production policy: priority order, best-fit placement, preemption with a
30 s grace period and a 5 minute minimum runtime, one reservation with backfill.
"""

from __future__ import annotations

from dataclasses import dataclass

# The queueing policies a PoolPolicy may name (built by queueing/), with what each does. Named here,
# with the configuration that names them, so that validating a policy needs nothing of queueing/.
QUEUEING_POLICIES: dict[str, str] = {
    "fifo": "first come, first served: jobs in submission order",
    "priority": "priority classes, highest first; submission order within a class",
    "drf": "dominant resource fairness among tenants, then their queues (GPUs per flavor, CPU, memory), "
    "weighted, with decayed historical usage; priority order within a queue",
    "las": "least attained service (Tiresias): discretised queues by GPU-seconds received so far, "
    "fewest first; preempts jobs that received more",
}


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    # The order pending jobs are considered in: a name from QUEUEING_POLICIES ("fifo", "priority",
    # "drf", "las").
    queueing: str = "priority"
    # Where a job's replicas go: a name from placement.PLACEMENT_POLICIES.
    placement: str = "best_fit"

    # Preemption of lower-ranked or borrowing work for a blocked job (and reclaim of lent quota).
    preemption: bool = True
    # Seconds a preempted job gets to checkpoint and exit (carried by each Preempt decision).
    preemption_grace_s: float = 30.0
    # A job is never preempted before it has run this long, so every start makes some progress.
    min_runtime_s: float = 300.0

    # True: the head job that cannot start gets a reservation and later jobs may start only when they
    # do not delay it (EASY backfill). False: strict order, later jobs wait behind a blocked head job
    # for the GPU flavors it could use.
    backfill: bool = True
    # How many blocked jobs (in queue order) get a reservation per cycle and GPU flavor; each later
    # one is planned around the earlier ones.
    max_reservations: int = 1
    # At most this many Place decisions per cycle (None: no limit); the rest wait for the next cycle.
    max_placements_per_cycle: int | None = None

    # "drf": half-life of the decayed historical usage (see fairness.decay_usage).
    fair_share_half_life_s: float = 3600.0
    # "drf": weight of each tenant among tenants (queues carry their own weight); absent means 1.
    tenant_weights: tuple[tuple[str, float], ...] = ()

    # "las": attained GPU-seconds at which a job drops to the next (lower) queue; ascending.
    # Defaults: 1 GPU-hour, then 10 GPU-hours (three queues).
    las_thresholds_gpu_s: tuple[float, ...] = (3_600.0, 36_000.0)

    # Running jobs of a project or tenant whose budget is exhausted: False lets them finish (only new
    # work is refused), True stops them.
    stop_on_budget_exhausted: bool = False

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.queueing not in QUEUEING_POLICIES:
            problems.append(f"queueing {self.queueing!r} is not one of {sorted(QUEUEING_POLICIES)}")
        if not self.placement:
            problems.append("placement must name a placement policy")
        for name in ("preemption_grace_s", "min_runtime_s"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.fair_share_half_life_s <= 0:
            problems.append(f"fair_share_half_life_s must be > 0, got {self.fair_share_half_life_s}")
        if self.max_reservations < 0:
            problems.append(f"max_reservations must be >= 0, got {self.max_reservations}")
        if self.max_placements_per_cycle is not None and self.max_placements_per_cycle < 1:
            problems.append(
                f"max_placements_per_cycle must be >= 1 or None, got {self.max_placements_per_cycle}"
            )
        for tenant, weight in self.tenant_weights:
            if weight <= 0:
                problems.append(f"tenant_weights[{tenant!r}] must be > 0, got {weight}")
        thresholds = self.las_thresholds_gpu_s
        if any(t <= 0 for t in thresholds) or list(thresholds) != sorted(set(thresholds)):
            problems.append(f"las_thresholds_gpu_s must be positive and strictly ascending, got {thresholds}")
        if problems:
            raise ValueError("invalid PoolPolicy: " + "; ".join(problems))

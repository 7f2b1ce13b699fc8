"""From the engine's decisions to the actions the cycle applies, with the reasons people read.

- Place: bind the job's replicas to the real nodes and GPUs.
- Hold: the job stays pending; its reason is "<kind>: <why>" (kind: quota, capacity, reservation,
  dependency, budget), so the code that says why stays stable while the wording may change.
- Reserve: the job stays pending, "reserved: starts by <time> on node(s) ...". The time is rounded up
  to the minute, so that a start estimate that moves by seconds does not rewrite the reason each cycle.
- Fail: the pending job fails with the engine's reason.
- Preempt and Stop: passed on as they are; they act on jobs that hold GPUs (see lifecycle).
A reason is only written when it changes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from services.scheduler.domain.engine.model import Decisions, Fail, Hold, Place, Preempt, Reserve, Stop
from services.scheduler.domain.model import Actions, Bind, BoundReplica, LiveState, QueuedJob, Verdict
from services.scheduler.domain.snapshot import FleetIndex
from shared.events.jobs import JobState


def to_actions(decisions: Decisions, state: LiveState, index: FleetIndex) -> Actions:
    queued = {job.request.job_id: job for job in state.pending}
    binds: list[Bind] = []
    verdicts: list[Verdict] = []
    preemptions: list[Preempt] = []
    stops: list[Stop] = []
    for decision in decisions.items:
        if isinstance(decision, Place):
            binds.append(_bind(queued[decision.job_id], decision, index))
        elif isinstance(decision, Preempt):
            preemptions.append(decision)
        elif isinstance(decision, Stop):
            stops.append(decision)
        else:
            job = queued[decision.job_id]
            verdict = _verdict(job, decision, index)
            if (verdict.state, verdict.reason) != (JobState.PENDING, job.reason):
                verdicts.append(verdict)
    return Actions(tuple(binds), tuple(verdicts), tuple(preemptions), tuple(stops))


def _bind(job: QueuedJob, place: Place, index: FleetIndex) -> Bind:
    replicas = tuple(
        BoundReplica(
            p.replica, index.node_id(p.node_id), index.gpu_uuids(p.node_id, p.gpu_indices), p.gpu_milli
        )
        for p in place.placements
    )
    return Bind(job, place.flavor, replicas)


def _verdict(job: QueuedJob, decision: Hold | Reserve | Fail, index: FleetIndex) -> Verdict:
    if isinstance(decision, Fail):
        return Verdict(job, JobState.FAILED, decision.reason)
    if isinstance(decision, Hold):
        reason = f"{decision.kind}: {decision.reason}" if decision.kind else decision.reason
        return Verdict(job, JobState.PENDING, reason)
    nodes = list(dict.fromkeys(index.node_id(n) for n in decision.node_ids))
    where = f"node {nodes[0]}" if len(nodes) == 1 else f"nodes {', '.join(nodes)}"
    return Verdict(job, JobState.PENDING, f"reserved: starts by {_by_minute(decision.start_at)} on {where}")


def _by_minute(epoch_s: float) -> str:
    """An epoch time rounded up to the minute, as UTC ISO 8601: 2026-01-01T10:31Z."""
    return datetime.fromtimestamp(math.ceil(epoch_s / 60) * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")

"""Decisions over stored state: fleet fit, cancellation, and which late read-model updates to apply."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum

from services.gateway.domain.errors import DoesNotFitFleet, JobAlreadyFinished
from services.gateway.domain.model import Invoice, Job, Node
from shared.events.jobs import JobSpec


def check_fits_fleet(spec: JobSpec, nodes: Iterable[Node]) -> None:
    """Refuse a replica larger than any ready node of an acceptable model.

    Only judged when such nodes are known: with none ready (an empty or recovering fleet) the job is
    accepted and waits in the scheduler's queue.
    """
    acceptable = set(spec.gpu_models)
    candidates = [n for n in nodes if n.is_ready and (not acceptable or n.gpu_model in acceptable)]
    if not candidates:
        return
    largest = max(candidates, key=lambda n: n.gpu_count)
    if spec.gpus_per_replica > largest.gpu_count:
        models = f" of model {', '.join(sorted(acceptable))}" if acceptable else ""
        raise DoesNotFitFleet(
            f"a replica asks {spec.gpus_per_replica} GPUs but the largest node{models} has "
            f"{largest.gpu_count} (node {largest.node_id}, {largest.gpu_model})"
        )


class CancelOutcome(Enum):
    REQUEST = "request"  # emit JobCancelRequested
    ALREADY_REQUESTED = "already_requested"  # answer as before, emit nothing new


def decide_cancel(job: Job) -> CancelOutcome:
    if job.state.is_terminal:
        raise JobAlreadyFinished(f"job {job.job_id} is already {job.state.value}; there is nothing to cancel")
    if job.cancel_requested_at is not None:
        return CancelOutcome.ALREADY_REQUESTED
    return CancelOutcome.REQUEST


def job_change_applies(job: Job, version: int) -> bool:
    """The scheduler numbers each job's changes; an older or repeated one arriving late is ignored."""
    return version > job.version


def node_change_applies(current: Node | None, occurred_at: datetime) -> bool:
    return current is None or occurred_at >= current.changed_at


def invoice_snapshot_applies(current: Invoice | None, final: bool, occurred_at: datetime) -> bool:
    """A finalized invoice is never replaced by a draft; otherwise the newer snapshot wins."""
    if current is None:
        return True
    if current.final and not final:
        return False
    if final and not current.final:
        return True
    return occurred_at >= current.snapshot_at

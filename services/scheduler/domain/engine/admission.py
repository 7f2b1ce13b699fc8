"""Admission gates a pending job passes before it competes for GPUs: dependencies, budget, and a
request the fleet could hold at all. Each returns the decision that keeps the job out, or None.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.scheduler.domain.engine.flavors import FleetFlavors
from services.scheduler.domain.engine.model import (
    DependencyCondition,
    Fail,
    Hold,
    HoldKind,
    JobOutcome,
    JobRequest,
    QueueSpec,
)


def dependency_gate(request: JobRequest, outcomes: Mapping[str, JobOutcome]) -> Hold | Fail | None:
    """Fail when an after-success dependency did not succeed; hold while any dependency runs."""
    waiting: Hold | None = None
    for dep in request.depends_on:
        outcome = outcomes.get(dep.job_id)
        if dep.condition is DependencyCondition.AFTER_SUCCESS:
            if outcome is None:
                waiting = waiting or Hold(
                    request.job_id, f"waiting for job {dep.job_id} to succeed", HoldKind.DEPENDENCY
                )
            elif outcome is not JobOutcome.SUCCEEDED:
                return Fail(
                    request.job_id,
                    f"dependency {dep.job_id} {outcome.value}; this job runs only after it succeeds",
                )
        elif outcome is None:
            waiting = waiting or Hold(
                request.job_id, f"waiting for job {dep.job_id} to end", HoldKind.DEPENDENCY
            )
    return waiting


def budget_gate(request: JobRequest, exhausted: frozenset[str]) -> Hold | None:
    """No new work for a project or tenant whose budget (a hard cap) is exhausted."""
    if request.project_id in exhausted:
        return Hold(request.job_id, f"budget exhausted for project {request.project_id}", HoldKind.BUDGET)
    if request.tenant_id in exhausted:
        return Hold(request.job_id, f"budget exhausted for tenant {request.tenant_id}", HoldKind.BUDGET)
    return None


def shape_gate(request: JobRequest, flavors: tuple[str, ...], fleet: FleetFlavors) -> Hold | Fail | None:
    """Fail a job that can never run: malformed, or with replicas bigger than any node of its flavors.
    Hold one the fleet as it is now is too small for (nodes of its flavors may join). Depends only on
    the request's shape, so the engine decides it once per shape."""
    problems = _malformed(request)
    if problems:
        return Fail(request.job_id, "invalid request: " + "; ".join(problems))
    if not flavors:
        wanted = ", ".join(request.gpu_models) or "any whole GPU"
        return Hold(
            request.job_id, f"no node in the pool has an acceptable GPU flavor ({wanted})", HoldKind.CAPACITY
        )
    if not fleet.replica_fits_a_node(request, flavors):
        return Fail(
            request.job_id, f"no node of {', '.join(flavors)} can hold one replica of {gpu_text(request)}"
        )
    if not fleet.fleet_could_hold(request, flavors):
        shape = f"{request.replicas} replica(s) of {gpu_text(request)}"
        return Hold(
            request.job_id, f"the pool is too small for {shape} ({', '.join(flavors)})", HoldKind.CAPACITY
        )
    return None


def queue_gate(request: JobRequest, queue: QueueSpec | None) -> Fail | None:
    """A job filed under another tenant's queue never runs: tenants never use each other's quota."""
    if queue is not None and queue.tenant_id != request.tenant_id:
        return Fail(
            request.job_id, f"project {request.project_id} does not belong to tenant {request.tenant_id}"
        )
    return None


def gpu_text(request: JobRequest) -> str:
    if request.gpu_milli < 1000:
        return f"{request.gpu_milli}/1000 of a GPU"
    text = f"{request.gpus_per_replica} GPU(s)"
    if request.cpu_milli_per_replica or request.memory_mib_per_replica:
        text += f", {request.cpu_milli_per_replica} milli-CPU, {request.memory_mib_per_replica} MiB"
    return text


def _malformed(request: JobRequest) -> list[str]:
    problems = []
    if request.replicas < 1:
        problems.append(f"replicas must be >= 1, got {request.replicas}")
    if request.gpus_per_replica < 1:
        problems.append(f"gpus_per_replica must be >= 1, got {request.gpus_per_replica}")
    if not 1 <= request.gpu_milli <= 1000:
        problems.append(f"gpu_milli must be in 1..1000, got {request.gpu_milli}")
    elif request.gpu_milli < 1000 and request.gpus_per_replica != 1:
        problems.append("a fractional GPU (gpu_milli < 1000) needs gpus_per_replica == 1")
    if request.cpu_milli_per_replica < 0 or request.memory_mib_per_replica < 0:
        problems.append("CPU and memory requests must be >= 0")
    if request.max_runtime_s is not None and request.max_runtime_s <= 0:
        problems.append("max_runtime_s must be > 0")
    return problems

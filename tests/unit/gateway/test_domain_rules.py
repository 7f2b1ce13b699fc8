"""Fleet fit, cancellation, and which late read-model updates apply."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.gateway.domain.errors import DoesNotFitFleet, JobAlreadyFinished
from services.gateway.domain.model import Invoice, Job, Node
from services.gateway.domain.rules import (
    CancelOutcome,
    check_fits_fleet,
    decide_cancel,
    invoice_snapshot_applies,
    job_change_applies,
    node_change_applies,
)
from shared.events.jobs import JobSpec, JobState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def spec(gpus: int, models: list[str] | None = None) -> JobSpec:
    return JobSpec(name="j", command=["run"], gpus_per_replica=gpus, gpu_models=models or [])


def node(node_id: str, model: str, gpus: int, state: str = "ready") -> Node:
    return Node(node_id, state, model, gpus, T0)


def job(state: JobState = JobState.PENDING, **changes: object) -> Job:
    base = Job("job_1", "tnt_a", "prj_a", spec(1), state, "", 0, T0, T0)
    return replace(base, **changes)  # type: ignore[arg-type]


FLEET = [node("a1", "A100", 8), node("h1", "H100", 4), node("a2", "A100", 16, state="lost")]


def test_a_replica_up_to_the_largest_ready_node_fits() -> None:
    check_fits_fleet(spec(8), FLEET)
    check_fits_fleet(spec(4, ["H100"]), FLEET)


def test_a_replica_larger_than_every_ready_node_is_refused_with_the_sizes() -> None:
    # The lost 16-GPU node does not count.
    with pytest.raises(DoesNotFitFleet, match="a replica asks 16 GPUs but the largest node has 8"):
        check_fits_fleet(spec(16), FLEET)


def test_only_acceptable_models_are_considered() -> None:
    with pytest.raises(DoesNotFitFleet, match="largest node of model H100 has 4"):
        check_fits_fleet(spec(8, ["H100"]), FLEET)


def test_with_no_ready_node_of_an_acceptable_model_the_job_is_left_to_queue() -> None:
    check_fits_fleet(spec(64), [])
    check_fits_fleet(spec(64, ["B200"]), FLEET)
    check_fits_fleet(spec(64), [node("x", "A100", 8, state="lost")])


def test_cancel_is_requested_once_and_refused_when_finished() -> None:
    assert decide_cancel(job()) is CancelOutcome.REQUEST
    assert decide_cancel(job(cancel_requested_at=T0)) is CancelOutcome.ALREADY_REQUESTED
    for finished in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        with pytest.raises(JobAlreadyFinished, match=f"already {finished.value}"):
            decide_cancel(job(finished))
    assert decide_cancel(job(JobState.PREEMPTED)) is CancelOutcome.REQUEST


def test_only_a_newer_job_version_applies() -> None:
    assert job_change_applies(job(version=2), 3)
    assert not job_change_applies(job(version=3), 3)
    assert not job_change_applies(job(version=3), 2)


def test_a_node_report_older_than_the_stored_one_is_ignored() -> None:
    stored = node("n", "A100", 8)
    assert node_change_applies(None, T0)
    assert node_change_applies(stored, T0 + timedelta(seconds=1))
    assert not node_change_applies(stored, T0 - timedelta(seconds=1))


def invoice(final: bool, at: datetime = T0) -> Invoice:
    return Invoice(
        "inv", "tnt_a", "2026-01", "finalized" if final else "draft", "USD", (), Decimal(1), final, at
    )


def test_a_finalized_invoice_is_only_replaced_by_another_finalization() -> None:
    later = T0 + timedelta(hours=1)
    assert invoice_snapshot_applies(None, final=False, occurred_at=T0)
    assert not invoice_snapshot_applies(invoice(final=True), final=False, occurred_at=later)
    assert invoice_snapshot_applies(invoice(final=False, at=later), final=True, occurred_at=T0)
    assert invoice_snapshot_applies(invoice(final=True), final=True, occurred_at=later)


def test_an_older_draft_does_not_replace_a_newer_one() -> None:
    stored = invoice(final=False, at=T0)
    assert invoice_snapshot_applies(stored, final=False, occurred_at=T0 + timedelta(seconds=1))
    assert not invoice_snapshot_applies(stored, final=False, occurred_at=T0 - timedelta(seconds=1))

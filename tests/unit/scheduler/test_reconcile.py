"""Reconciling an agent's running list with the allocations the scheduler holds on its node."""

from __future__ import annotations

from datetime import timedelta

from services.scheduler.domain.reconcile import HeldAllocation, ReportedWorkload, reconcile_node
from tests.unit.scheduler.builders import T0


def test_unknown_workloads_are_strays_and_held_ones_not_running_are_missing() -> None:
    reported = [ReportedWorkload("a1", "j1"), ReportedWorkload("a9", "j9")]
    held = [HeldAllocation("a1", T0), HeldAllocation("a2", T0)]

    result = reconcile_node(reported, held, T0 + timedelta(seconds=5))

    assert result.strays == (ReportedWorkload("a9", "j9"),)
    assert result.missing == ("a2",)


def test_an_allocation_bound_after_the_report_is_not_missing() -> None:
    held = [HeldAllocation("a3", T0 + timedelta(seconds=10))]

    result = reconcile_node([], held, T0 + timedelta(seconds=5))

    assert result.missing == ()

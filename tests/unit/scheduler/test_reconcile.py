"""Reconciling an agent's registration (and heartbeats) with the allocations the scheduler holds on its node."""

from __future__ import annotations

from datetime import timedelta

from services.scheduler.domain.reconcile import HeldAllocation, ReportedWorkload, reconcile_node, strays_among
from tests.unit.scheduler.builders import T0

REPORTED_AT = T0 + timedelta(seconds=5)


def test_unknown_workloads_are_strays_and_started_ones_it_no_longer_knows_are_missing() -> None:
    running = [ReportedWorkload("a1", "j1"), ReportedWorkload("a9", "j9")]
    held = [HeldAllocation("a1", T0), HeldAllocation("a2", T0)]

    result = reconcile_node(running, {"a1", "a9"}, held, REPORTED_AT)

    assert result.strays == (ReportedWorkload("a9", "j9"),)
    assert result.missing == ("a2",)


def test_an_allocation_the_agent_accounts_for_is_not_missing_though_not_running() -> None:
    # Ended while the agent was away, held without a process, or finished just before the agent died.
    held = [HeldAllocation("exited", T0), HeldAllocation("held", T0), HeldAllocation("finished", T0)]

    result = reconcile_node([], {"exited", "held", "finished"}, held, REPORTED_AT)

    assert result.missing == ()


def test_an_allocation_whose_start_was_not_reported_is_waited_for() -> None:
    # Its start command may still wait in JetStream (queued while the agent was down).
    held = [HeldAllocation("queued", None)]

    assert reconcile_node([], set(), held, REPORTED_AT).missing == ()


def test_an_allocation_started_after_the_report_was_taken_is_not_missing() -> None:
    held = [HeldAllocation("a3", T0 + timedelta(seconds=10))]

    assert reconcile_node([], set(), held, REPORTED_AT).missing == ()


def test_a_heartbeats_workloads_without_a_live_allocation_are_strays() -> None:
    running = [ReportedWorkload("live", "j1"), ReportedWorkload("released", "j2")]

    assert strays_among(running, {"live"}) == [ReportedWorkload("released", "j2")]

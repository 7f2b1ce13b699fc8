"""From engine decisions to the cycle's actions: real nodes and GPUs, and the reasons people read."""

from __future__ import annotations

from datetime import UTC, datetime

from services.scheduler.domain.actions import to_actions
from services.scheduler.domain.engine.model import (
    Decision,
    Decisions,
    Fail,
    Hold,
    HoldKind,
    Place,
    Preempt,
    ReplicaPlacement,
    Reserve,
    Stop,
)
from services.scheduler.domain.model import Actions, FleetGpu, FleetNode, UsageHistory
from services.scheduler.domain.snapshot import SnapshotBuilder
from shared.events.jobs import JobState
from tests.unit.scheduler.builders import live, node, queued

FLEET = [node("n1", gpus=4), node("n2", gpus=4)]


def act(*items: Decision, reason: str = "queued") -> Actions:
    state = live([queued("j1", reason=reason)], FLEET)
    _, fleet = SnapshotBuilder().build(state, UsageHistory())
    return to_actions(Decisions(items), state, fleet)


def test_a_place_binds_the_real_gpus_of_each_replica() -> None:
    place = Place("j1", "A100", (ReplicaPlacement(0, "n1", (1, 3)), ReplicaPlacement(1, "n2", (0, 1))))

    [bind] = act(place).binds

    assert bind.gpu_model == "A100"
    assert [(r.replica, r.node_id, r.gpu_uuids) for r in bind.replicas] == [
        (0, "n1", ("n1-g1", "n1-g3")),
        (1, "n2", ("n2-g0", "n2-g1")),
    ]
    assert bind.reason == "placed on nodes n1, n2 (A100)"


def test_a_hold_says_its_kind_first() -> None:
    [verdict] = act(Hold("j1", "not enough free GPUs", HoldKind.CAPACITY)).verdicts

    assert (verdict.state, verdict.reason) == (JobState.PENDING, "capacity: not enough free GPUs")


def test_a_reason_the_job_already_has_is_not_written() -> None:
    actions = act(
        Hold("j1", "not enough free GPUs", HoldKind.CAPACITY), reason="capacity: not enough free GPUs"
    )

    assert actions.verdicts == ()


def test_a_reservation_says_by_when_to_the_minute_rounded_up_and_where() -> None:
    start = datetime(2026, 3, 1, 10, 30, 1, tzinfo=UTC).timestamp()

    [verdict] = act(Reserve("j1", start, ("n2", "n1"))).verdicts

    assert verdict.reason == "reserved: starts by 2026-03-01T10:31Z on nodes n2, n1"


def test_a_reservation_on_a_mixed_node_names_the_node_once() -> None:
    mixed = FleetNode("n1", True, (FleetGpu("u0", "A100"), FleetGpu("u1", "H100")))
    state = live([queued("j1")], [mixed])
    _, fleet = SnapshotBuilder().build(state, UsageHistory())
    start = datetime(2026, 3, 1, 10, 30, tzinfo=UTC).timestamp()

    actions = to_actions(Decisions((Reserve("j1", start, ("n1/A100", "n1/H100")),)), state, fleet)

    assert actions.verdicts[0].reason == "reserved: starts by 2026-03-01T10:30Z on node n1"


def test_a_fail_fails_the_pending_job_with_the_engines_reason() -> None:
    [verdict] = act(Fail("j1", "no node of A100 can hold one replica of 16 GPU(s)")).verdicts

    assert (verdict.state, verdict.reason) == (
        JobState.FAILED,
        "no node of A100 can hold one replica of 16 GPU(s)",
    )


def test_preemptions_and_stops_are_passed_on() -> None:
    preempt = Preempt("r1", "preempted for job j1", grace_s=5.0, for_job_id="j1")
    stop = Stop("r2", "maximum runtime of 60 s exceeded")

    actions = act(preempt, stop)

    assert (actions.preemptions, actions.stops, actions.binds, actions.verdicts) == (
        (preempt,),
        (stop,),
        (),
        (),
    )

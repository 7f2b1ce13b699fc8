"""Pools: each pool is decided on its own nodes and jobs with its own policy; quotas span the pools."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.scheduler.domain.engine import PoolPolicy
from services.scheduler.domain.engine.model import Preempt, Stop
from services.scheduler.domain.model import (
    Actions,
    FleetNode,
    HeldReplica,
    HoldingJob,
    LiveState,
    ProjectQuota,
    QueuedJob,
    UsageHistory,
)
from services.scheduler.domain.pools import PoolDecider, PoolPolicies, merged
from shared.events.agent import NodeRegistered
from shared.events.jobs import JobSpec, JobState
from tests.unit.scheduler.builders import NOW, T0, holding, live, node, queued, request

FIFO = PoolPolicy(queueing="fifo")
LAS = PoolPolicy(queueing="las")


def pool_node(node_id: str, pool: str, gpus: int = 8) -> FleetNode:
    return replace(node(node_id, gpus=gpus), pool=pool)


def pool_job(job_id: str, pool: str, **spec: object) -> QueuedJob:
    return replace(queued(job_id, **spec), pool=pool)


def decide(state: LiveState, policies: PoolPolicies | None = None) -> Actions:
    return PoolDecider(policies or PoolPolicies()).decide(state, UsageHistory())


def placed(actions: Actions) -> dict[str, set[str]]:
    return {b.job.request.job_id: {r.node_id for r in b.replicas} for b in actions.binds}


def reasons(actions: Actions) -> dict[str, str]:
    return {v.job.request.job_id: v.reason for v in actions.verdicts}


def test_jobs_are_placed_only_on_nodes_of_their_pool() -> None:
    state = live(
        nodes=[node("d1", gpus=2), pool_node("r1", "research", gpus=8)],
        pending=[queued("small", gpus=1), pool_job("big", "research", gpus=4), queued("wide", gpus=2)],
    )

    actions = decide(state)

    assert placed(actions) == {"small": {"d1"}, "big": {"r1"}}
    # Room enough in research, but "wide" is a default-pool job: it waits for the default pool's nodes.
    assert reasons(actions)["wide"].startswith("capacity: ")


def test_a_job_no_node_of_its_pool_can_hold_fails_whatever_other_pools_have() -> None:
    state = live(
        nodes=[node("d1", gpus=2), pool_node("r1", "research", gpus=8)], pending=[queued("huge", gpus=4)]
    )

    (verdict,) = decide(state).verdicts

    assert verdict.state is JobState.FAILED
    assert verdict.reason == "no node of A100 can hold one replica of 4 GPU(s)"


def test_jobs_of_a_pool_without_nodes_wait_saying_so() -> None:
    state = live(nodes=[node("d1")], pending=[pool_job("lonely", "ghost"), queued("fine")])

    actions = decide(state)

    assert placed(actions) == {"fine": {"d1"}}
    (verdict,) = actions.verdicts
    assert (verdict.job.request.job_id, verdict.state) == ("lonely", JobState.PENDING)
    assert verdict.reason == "capacity: pool ghost has no nodes"


def test_each_pool_orders_its_queue_with_its_own_policy() -> None:
    # In each pool one 2-GPU node and two 2-GPU jobs: the low-priority one submitted first.
    state = live(
        nodes=[node("d1", gpus=2), pool_node("r1", "research", gpus=2)],
        pending=[
            queued("d-low", gpus=2, submitted_s=0, priority=0),
            queued("d-high", gpus=2, submitted_s=10, priority=5),
            pool_job("r-low", "research", gpus=2, submitted_s=0, priority=0),
            pool_job("r-high", "research", gpus=2, submitted_s=10, priority=5),
        ],
    )

    actions = decide(state, PoolPolicies(default=FIFO, named={"research": LAS}))

    # fifo: submission order; las: priority class first, then the least attained service.
    assert placed(actions) == {"d-low": {"d1"}, "r-high": {"r1"}}


def test_a_quota_counts_what_the_project_holds_in_other_pools() -> None:
    quotas = {"prj_a": ProjectQuota("ten_a", {"A100": 4})}
    state = live(
        nodes=[node("d1"), pool_node("r1", "research")],
        held=[holding("running", "r1", (0, 1, 2))],
        pending=[queued("two", gpus=2, submitted_s=0), queued("one", gpus=1, submitted_s=10)],
        quotas=quotas,
    )

    actions = decide(state)

    assert placed(actions) == {"one": {"d1"}}
    reason = reasons(actions)["two"]
    assert reason.startswith("quota: ")
    assert reason.endswith("(after 3 A100 GPUs it holds in other pools)")


def test_a_quota_counts_what_other_pools_placed_in_the_same_cycle() -> None:
    quotas = {"prj_a": ProjectQuota("ten_a", {"A100": 2})}
    state = live(
        nodes=[node("d1"), pool_node("r1", "research")],
        pending=[queued("here", gpus=2), pool_job("there", "research", gpus=2)],
        quotas=quotas,
    )

    actions = decide(state)

    # Pools are decided by name: "default" first takes the whole quota.
    assert placed(actions) == {"here": {"d1"}}
    assert reasons(actions)["there"].startswith("quota: ")


def test_a_job_holding_gpus_in_two_pools_is_stopped_once_at_its_maximum_runtime() -> None:
    # Its second node moved to another pool while it ran.
    straddling = HoldingJob(
        request("straddling", replicas=2, gpus=1, max_runtime_s=60),
        (
            HeldReplica(0, "d1", "A100", ("d1-g0",), T0.timestamp()),
            HeldReplica(1, "r1", "A100", ("r1-g0",), T0.timestamp()),
        ),
    )
    state = live(nodes=[node("d1", gpus=1), pool_node("r1", "research", gpus=1)], held=[straddling])
    assert NOW - T0.timestamp() > 60

    actions = decide(state)

    assert [s.job_id for s in actions.stops] == ["straddling"]
    assert not actions.preemptions  # neither pool mistakes the other's node for a lost one


def test_a_job_holding_gpus_in_two_pools_counts_once_against_its_quota() -> None:
    straddling = HoldingJob(
        request("straddling", replicas=2, gpus=1),
        (
            HeldReplica(0, "d1", "A100", ("d1-g0",), T0.timestamp()),
            HeldReplica(1, "r1", "A100", ("r1-g0",), T0.timestamp()),
        ),
    )
    state = live(
        nodes=[node("d1", gpus=4), pool_node("r1", "research", gpus=4)],
        held=[straddling],
        pending=[queued("two", gpus=2)],
        quotas={"prj_a": ProjectQuota("ten_a", {"A100": 4})},
    )

    # 2 held + 2 asked = the quota of 4.
    assert placed(decide(state)) == {"two": {"d1"}}


def test_merging_keeps_one_preemption_or_stop_per_job() -> None:
    first = Actions(preemptions=(Preempt("a", "for job x"),), stops=(Stop("b", "too long"),))
    second = Actions(stops=(Stop("a", "too long"), Stop("b", "too long")))

    both = merged([first, second])

    assert [p.job_id for p in both.preemptions] == ["a"]
    assert [s.job_id for s in both.stops] == ["b"]


def test_the_named_pools_take_their_own_policy_and_the_rest_the_default() -> None:
    policies = PoolPolicies(default=FIFO, named={"research": LAS})

    assert policies.of("research") is LAS
    assert policies.of("default") is FIFO and policies.of("unnamed") is FIFO
    assert policies.any_las and not PoolPolicies(default=FIFO).any_las


def test_a_job_runs_in_the_default_pool_unless_its_spec_names_a_pool() -> None:
    assert JobSpec(name="j", command=["run"]).pool == "default"
    assert JobSpec(name="j", command=["run"], pool="research-2").pool == "research-2"


@pytest.mark.parametrize("name", ["", "Research", "gpu pool", "-edge", "edge-", "x" * 33, "a_b"])
def test_a_malformed_pool_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="pool"):
        JobSpec(name="j", command=["run"], pool=name)


def test_a_node_joins_the_pool_its_label_names_and_a_malformed_one_is_refused() -> None:
    def registered(labels: dict[str, str]) -> NodeRegistered:
        return NodeRegistered(
            occurred_at=datetime.now(UTC),
            node_id="n1",
            hostname="n1",
            backend="simulated",
            gpus=[],
            labels=labels,
        )

    assert registered({}).pool == "default"
    assert registered({"pool": "research", "rack": "r1"}).pool == "research"
    with pytest.raises(ValidationError, match="label pool='Big Pool' is not a pool name"):
        registered({"pool": "Big Pool"})

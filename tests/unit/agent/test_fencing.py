"""Epoch fencing and idempotency of the scheduler's commands."""

from __future__ import annotations

from services.agent.domain.fencing import Verdict, judge_start, judge_stop
from services.agent.domain.state import AgentState, Phase
from tests.unit.agent.builders import GPUS, NODE, record, start_command, stop_command


def state(newest_epoch: int = 3, **workloads: Phase) -> AgentState:
    return AgentState(
        newest_epoch=newest_epoch,
        workloads={alloc: record(alloc, phase=phase) for alloc, phase in workloads.items()},
    )


def test_a_start_with_the_newest_or_a_newer_epoch_applies() -> None:
    assert judge_start(state(3), NODE, start_command(epoch=3), GPUS) is Verdict.APPLY
    assert judge_start(state(3), NODE, start_command(epoch=4), GPUS) is Verdict.APPLY


def test_commands_with_an_older_epoch_are_refused() -> None:
    current = state(5, a1=Phase.RUNNING)
    assert judge_start(current, NODE, start_command("a2", epoch=4), GPUS) is Verdict.STALE_EPOCH
    assert judge_stop(current, NODE, stop_command("a1", epoch=4)) is Verdict.STALE_EPOCH


def test_a_start_for_an_allocation_already_here_is_a_redelivery() -> None:
    current = state(3, a1=Phase.RUNNING)
    assert judge_start(current, NODE, start_command("a1"), GPUS) is Verdict.ALREADY_RUNNING


def test_a_stale_redelivery_of_a_start_taken_here_is_a_redelivery_not_a_refusal() -> None:
    current = state(5, a1=Phase.RUNNING)
    current.finish("a0", at=0.0)
    assert judge_start(current, NODE, start_command("a1", epoch=4), GPUS) is Verdict.ALREADY_RUNNING
    assert judge_start(current, NODE, start_command("a0", epoch=4), GPUS) is Verdict.ALREADY_FINISHED
    assert judge_start(current, NODE, start_command("a2", epoch=4), GPUS).refuses_start


def test_a_start_for_an_allocation_that_already_finished_is_not_run_again() -> None:
    current = state(3)
    current.finish("a1", at=0.0)
    assert judge_start(current, NODE, start_command("a1"), GPUS) is Verdict.ALREADY_FINISHED


def test_a_start_naming_a_gpu_not_on_this_node_is_rejected() -> None:
    verdict = judge_start(state(), NODE, start_command(gpu_uuids=["GPU-elsewhere"]), GPUS)
    assert verdict is Verdict.UNKNOWN_GPU and verdict.refuses_start


def test_a_command_for_another_node_is_refused() -> None:
    assert judge_start(state(), NODE, start_command(node_id="n2"), GPUS) is Verdict.WRONG_NODE
    assert judge_stop(state(a1=Phase.RUNNING), NODE, stop_command(node_id="n2")) is Verdict.WRONG_NODE


def test_a_stop_for_an_unknown_allocation_has_no_effect() -> None:
    assert judge_stop(state(), NODE, stop_command("ghost")) is Verdict.UNKNOWN_ALLOCATION


def test_a_second_stop_while_stopping_has_no_effect() -> None:
    assert judge_stop(state(a1=Phase.STOPPING), NODE, stop_command("a1")) is Verdict.ALREADY_STOPPING
    assert judge_stop(state(a1=Phase.RESTARTING), NODE, stop_command("a1")) is Verdict.APPLY


def test_the_newest_epoch_only_grows() -> None:
    current = state(5)
    current.observe_epoch(4)
    assert current.newest_epoch == 5
    current.observe_epoch(9)
    assert current.newest_epoch == 9


def test_a_start_on_a_gpu_held_here_in_any_phase_is_rejected() -> None:
    for phase in Phase:
        verdict = judge_start(state(a1=phase), NODE, start_command("a2", gpu_uuids=[GPUS[0]]), GPUS)
        assert verdict is Verdict.GPU_IN_USE and verdict.refuses_start, phase
    assert judge_start(state(a1=Phase.RUNNING), NODE, start_command("a2", gpu_uuids=[GPUS[1]]), GPUS).applies

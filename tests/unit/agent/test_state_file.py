"""The state file: a faithful round trip, written atomically and privately."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from services.agent.adapters.state_file import JsonStateFile, StateFileError
from services.agent.domain.state import AgentState, Phase
from tests.unit.agent.builders import record


def test_a_missing_file_is_a_fresh_state(tmp_path: Path) -> None:
    assert JsonStateFile(tmp_path).load() == AgentState()


def test_state_round_trips_through_the_file(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path / "agent")
    state = AgentState(
        newest_epoch=12,
        workloads={
            "a1": record("a1"),
            "a2": record(
                "a2",
                kind="inference",
                phase=Phase.RESTARTING,
                pid=0,
                last_exit_code=3,
                consecutive_failures=2,
            ),
        },
        finished={"a0": 1767225600.5},
    )
    store.save(state)

    loaded = store.load()
    assert loaded == state
    assert loaded.workloads["a2"].phase is Phase.RESTARTING


def test_the_file_is_replaced_whole_and_readable_only_by_the_agent(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    store.save(AgentState(newest_epoch=1, workloads={"a1": record("a1")}))
    store.save(AgentState(newest_epoch=2))

    assert [p.name for p in tmp_path.iterdir()] == ["agent-state.json"]  # no temporary file left
    assert json.loads(store.path.read_text())["newest_epoch"] == 2
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_corrupt_file_is_a_clear_error_not_a_fresh_start(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    store.path.write_text("{half a file")
    with pytest.raises(StateFileError, match="agent-state.json"):
        store.load()


def test_a_file_of_another_version_is_refused(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    store.path.write_text(json.dumps({"version": 99}))
    with pytest.raises(StateFileError, match="version 99"):
        store.load()


def test_running_lists_only_workloads_with_a_process() -> None:
    state = AgentState(
        workloads={
            "a1": record("a1", pid=10),
            "a2": record("a2", phase=Phase.RESTARTING, pid=0),
            "a3": record("a3", phase=Phase.STOPPING, pid=30),
        }
    )
    assert [(w.allocation_id, w.pid) for w in state.running()] == [("a1", 10), ("a3", 30)]


def test_finished_allocations_keep_their_time_through_the_journal(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    state = AgentState(workloads={"a1": record("a1")})
    store.save(state)
    state.finish("a1", at=1234.5)
    store.save_changes(state, ["a1"])

    assert state.workloads == {} and state.finished == {"a1": 1234.5}
    assert JsonStateFile(tmp_path).load() == state


def test_an_older_file_listing_finished_allocations_without_times_is_read(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path, now=lambda: 99.0)
    store.path.write_text(json.dumps({"version": 1, "workloads": [], "finished": ["a0", "a1"]}))
    store.journal_path.write_text(json.dumps({"finish": "a2"}) + "\n")

    assert store.load().finished == {"a0": 99.0, "a1": 99.0, "a2": 99.0}


def test_changes_are_journaled_and_replayed_over_the_snapshot(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    state = AgentState(newest_epoch=1, workloads={"a1": record("a1"), "a2": record("a2")})
    store.save(state)
    snapshot = store.path.read_text()

    state.workloads["a3"] = record("a3", phase=Phase.LAUNCHING, pid=0)
    store.save_changes(state, ["a3"])
    state.workloads["a3"].phase, state.workloads["a3"].pid = Phase.RUNNING, 33
    state.observe_epoch(4)
    state.finish("a1", at=5.0)
    store.save_changes(state, ["a3", "a1"])

    assert store.path.read_text() == snapshot  # only the journal grew
    assert JsonStateFile(tmp_path).load() == state


def test_loading_folds_the_journal_into_a_new_snapshot(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    state = AgentState(workloads={"a1": record("a1")})
    store.save_changes(state, ["a1"])

    assert JsonStateFile(tmp_path).load() == state
    assert not store.journal_path.exists()
    assert json.loads(store.path.read_text())["workloads"][0]["allocation_id"] == "a1"


def test_a_line_torn_by_a_crash_at_the_end_of_the_journal_is_ignored(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    state = AgentState(workloads={"a1": record("a1")})
    store.save_changes(state, ["a1"])
    with store.journal_path.open("a") as journal:
        journal.write('{"put": {"allocation_id": "a2", "jo')

    assert JsonStateFile(tmp_path).load() == state


def test_a_damaged_line_inside_the_journal_is_a_clear_error(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path)
    store.save_changes(AgentState(workloads={"a1": record("a1")}), ["a1"])
    lines = store.journal_path.read_text().splitlines()
    store.journal_path.write_text("\n".join(["{oops", *lines]) + "\n")

    with pytest.raises(StateFileError, match="agent-state.journal line 1"):
        JsonStateFile(tmp_path).load()


def test_a_long_journal_is_compacted_into_the_snapshot(tmp_path: Path) -> None:
    store = JsonStateFile(tmp_path, compact_after_lines=6)
    state = AgentState()
    for index in range(3):  # two lines each: the epoch and the workload
        state.workloads[f"a{index}"] = record(f"a{index}")
        store.save_changes(state, [f"a{index}"])

    assert not store.journal_path.exists()
    assert len(json.loads(store.path.read_text())["workloads"]) == 3
    assert JsonStateFile(tmp_path).load() == state

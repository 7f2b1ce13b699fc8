"""ensure_streams' merge rule: add what we need, never lower what an operator raised."""

from __future__ import annotations

from dataclasses import replace

from nats.js.api import StorageType

from shared.messaging.streams import DAY_S, GATEWAY, merge_stream_config, stream_config

OURS = stream_config(GATEWAY, replicas=1)


def test_a_stream_as_we_define_it_is_left_alone() -> None:
    merge = merge_stream_config(OURS, OURS)
    assert (merge.update, merge.kept) == (None, ())


def test_replicas_an_operator_raised_are_kept_and_said() -> None:
    current = replace(OURS, num_replicas=3)
    merge = merge_stream_config(OURS, current)
    assert merge.update is None
    assert merge.kept == ("num_replicas=3 (ours 1)",)


def test_replicas_below_ours_are_raised() -> None:
    merge = merge_stream_config(stream_config(GATEWAY, replicas=3), OURS)
    assert merge.update is not None and merge.update.num_replicas == 3


def test_a_longer_age_a_wider_window_and_other_limits_survive() -> None:
    current = replace(OURS, max_age=90 * DAY_S, duplicate_window=900, max_bytes=10**12, max_msgs=10**9)
    merge = merge_stream_config(OURS, current)
    assert merge.update is None
    assert merge.kept == ("max_age=90d (ours 30d)", "duplicate_window=900s (ours 300s)")


def test_an_unlimited_age_is_the_longest() -> None:
    assert merge_stream_config(OURS, replace(OURS, max_age=0)).update is None
    raised = merge_stream_config(replace(OURS, max_age=0), OURS).update
    assert raised is not None and raised.max_age == 0


def test_shorter_limits_are_raised_to_ours_and_missing_subjects_added() -> None:
    current = replace(OURS, subjects=["gateway.v1.>", "extra.>"], max_age=DAY_S, duplicate_window=0)
    merge = merge_stream_config(OURS, current)
    assert merge.update is not None
    assert merge.update.subjects == ["gateway.v1.>", "extra.>", "gateway.>"]
    assert (merge.update.max_age, merge.update.duplicate_window) == (30 * DAY_S, 300)


def test_a_storage_we_cannot_change_is_kept_and_said() -> None:
    merge = merge_stream_config(OURS, replace(OURS, storage=StorageType.MEMORY))
    assert merge.update is None
    assert merge.kept == ("storage=memory (ours file)",)

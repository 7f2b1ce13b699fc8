"""Issue 11: the priority class rules (shared/events/priority_classes.py) and the bounds of a submitted
job spec, which the gateway and the scheduler both apply."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.gateway.settings import GatewaySettings
from services.scheduler.settings import SchedulerSettings
from shared.events.jobs import MAX_RUNTIME_S, JobSpec, JobSubmission, max_runtime_refusal
from shared.events.priority_classes import PRIORITY_LIMIT, PriorityClasses

CLASSES = PriorityClasses.parse('{"low": 0, "normal": 100, "high": 1000}', "normal")


def test_a_class_names_its_priority_and_a_project_may_use_up_to_its_maximum() -> None:
    assert CLASSES.engine_priority("high") == 1000
    assert CLASSES.refusal("normal", None) is None
    assert CLASSES.refusal("high", "high") is None
    assert CLASSES.refusal("high", None) == (
        "priority class 'high' is above what this project may use; one of ['low', 'normal']"
    )
    assert (
        CLASSES.refusal("urgent", "high")
        == "unknown priority class 'urgent'; one of ['low', 'normal', 'high']"
    )
    # A project whose maximum the operator has since removed is held to the default.
    assert CLASSES.refusal("high", "removed") is not None


@pytest.mark.parametrize(("legacy", "expected"), [(2**40, 100), (-(2**40), 0), (50, 50), (0, 0)])
def test_an_old_events_integer_priority_is_clamped_between_the_lowest_and_the_default_class(
    legacy: int, expected: int
) -> None:
    assert CLASSES.engine_priority(None, legacy) == expected


def test_a_class_the_scheduler_does_not_know_runs_at_the_default_class() -> None:
    assert CLASSES.engine_priority("gone") == 100


@pytest.mark.parametrize(
    ("classes", "default", "problem"),
    [
        ("{}", "normal", "at least one priority class"),
        ('{"normal": 2147483648}', "normal", f"between -{PRIORITY_LIMIT} and {PRIORITY_LIMIT}"),
        ('{"normal": 1.5}', "normal", "must be an integer"),
        ('{"Normal": 1}', "Normal", "priority class name 'Normal'"),
        ('{"low": 0}', "normal", "the default priority class 'normal' is not one of ['low']"),
        ("[1]", "normal", "must be a JSON object"),
        ("{", "normal", "not JSON"),
    ],
)
def test_malformed_classes_are_refused(classes: str, default: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        PriorityClasses.parse(classes, default)


def test_gateway_and_scheduler_read_the_same_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_PRIORITY_CLASSES", '{"low": 0, "normal": 100, "high": 1000}')
    monkeypatch.setenv("AIFACTORY_DEFAULT_PRIORITY_CLASS", "low")
    assert GatewaySettings().priority_class_rules() == SchedulerSettings().priority_class_rules()
    assert SchedulerSettings().priority_class_rules().default_value == 0
    monkeypatch.setenv("AIFACTORY_DEFAULT_PRIORITY_CLASS", "urgent")
    with pytest.raises(ValidationError, match="default priority class 'urgent'"):
        SchedulerSettings()


def test_a_submission_bounds_the_maximum_runtime_and_takes_no_integer_priority() -> None:
    base = {"name": "j", "command": ["x"]}
    assert (
        JobSubmission.model_validate(base | {"max_runtime_s": MAX_RUNTIME_S}).max_runtime_s == MAX_RUNTIME_S
    )
    for bad in ({"max_runtime_s": 10**400}, {"max_runtime_s": MAX_RUNTIME_S + 1}, {"priority": 7}):
        with pytest.raises(ValidationError):
            JobSubmission.model_validate(base | bad)
    # Events and stored specs from before the bound still read.
    assert JobSpec.model_validate(base | {"max_runtime_s": 10**400, "priority": 2**40}).priority == 2**40
    spec = JobSubmission.model_validate(base).to_spec("high", 1000)
    assert (type(spec), spec.priority_class, spec.priority) == (JobSpec, "high", 1000)


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0, -1.0, MAX_RUNTIME_S + 1.0])
def test_a_stored_maximum_runtime_out_of_range_is_refused_where_it_is_used(value: float) -> None:
    assert max_runtime_refusal(value) is not None
    assert max_runtime_refusal(60.0) is None

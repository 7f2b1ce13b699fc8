from datetime import timedelta
from typing import Any

import pytest

from services.ingest.domain.cloudevents import batch_items, decode_json, event_attributes, parse_usage_event
from services.ingest.domain.errors import InvalidEvent, MalformedBody
from services.ingest.domain.time_window import TimeLimits
from tests.unit.ingest.builders import T0, cloud_event

LIMITS = TimeLimits(max_future_skew_s=300, max_age_s=7 * 86_400)


def parse(value: Any) -> Any:
    return parse_usage_event(value, now=T0, limits=LIMITS)


def problems_of(value: Any) -> list[str]:
    with pytest.raises(InvalidEvent) as caught:
        parse(value)
    return caught.value.problems


def test_a_valid_event_becomes_typed_external_usage() -> None:
    usage = parse(cloud_event(T0 - timedelta(minutes=1), event_id="e-1", job_id="job-3"))
    assert (usage.source, usage.event_id, usage.source_event_id) == (
        "/inference/gw-1",
        "e-1",
        "/inference/gw-1/e-1",
    )
    assert usage.time == T0 - timedelta(minutes=1) and usage.time.tzinfo is not None
    assert (usage.tenant_id, usage.project_id, usage.job_id, usage.model_name) == (
        "acme",
        "vision",
        "job-3",
        "llama-3-70b",
    )
    assert (usage.requests, usage.input_tokens, usage.output_tokens) == (3, 1200, 800)


def test_optional_fields_may_be_left_out() -> None:
    event = cloud_event(model_name=None)
    del event["datacontenttype"]
    usage = parse(event)
    assert usage.model_name is None and usage.job_id is None


def test_every_problem_is_reported_at_once_naming_its_attribute() -> None:
    event = cloud_event(requests=-1, input_tokens="12", output_tokens=1.5, tenant_id=7)
    del event["id"]
    event["specversion"] = "0.3"
    problems = problems_of(event)
    assert 'specversion: must be "1.0", got "0.3"' in problems
    assert "id: required" in problems
    assert "data.requests: must be an integer >= 0, got -1" in problems
    assert 'data.input_tokens: must be an integer >= 0, got string "12"' in problems
    assert "data.output_tokens: must be an integer >= 0, got number 1.5" in problems
    assert "data.tenant_id: must be a string, got integer" in problems


def test_missing_required_attributes_are_named() -> None:
    problems = problems_of({"specversion": "1.0"})
    assert problems == [
        "id: required",
        "source: required",
        "type: required",
        "time: required (an RFC 3339 timestamp)",
        "data: required (a JSON object with tenant_id, project_id and the counters)",
    ]


def test_missing_data_fields_are_named() -> None:
    problems = problems_of(cloud_event(project_id=None, requests=None))
    assert problems == ["data.project_id: required", "data.requests: required (an integer >= 0)"]


def test_an_unknown_type_is_refused() -> None:
    problems = problems_of(cloud_event() | {"type": "com.example.other"})
    assert problems == ["type: must be 'io.aifactory.usage.inference', got 'com.example.other'"]


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("yesterday", 'time: must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got "yesterday"'),
        ("2026-03-01T12:00:00", "time: must be an RFC 3339 timestamp"),
        ("2026-13-01T12:00:00Z", "time: '2026-13-01T12:00:00Z' is not a valid date and time"),
        ("2026-03-01T13:00:00Z", "time: time 2026-03-01T13:00:00+00:00 is 3600s in the future"),
        ("2026-01-01T00:00:00+02:00", "s old (usage older than 604800s is refused)"),
    ],
)
def test_bad_times_are_refused_saying_why(time: str, expected: str) -> None:
    problems = problems_of(cloud_event() | {"time": time})
    assert len(problems) == 1 and expected in problems[0]


def test_a_time_with_an_offset_is_understood() -> None:
    usage = parse(cloud_event() | {"time": "2026-03-01T13:59:00+02:00"})
    assert usage.time == T0 - timedelta(minutes=1)


def test_data_must_be_a_json_object_and_not_base64() -> None:
    assert problems_of(cloud_event() | {"data": [1]}) == ["data: must be a JSON object, got array"]
    event = cloud_event()
    del event["data"]
    assert problems_of(event | {"data_base64": "e30="}) == [
        "data_base64: not supported, send data as a JSON object"
    ]


def test_unknown_data_fields_are_refused_so_typos_are_not_lost() -> None:
    problems = problems_of(cloud_event(input_token=5))
    assert len(problems) == 1 and problems[0].startswith("data.input_token: unknown field")


def test_a_non_json_data_content_type_is_refused() -> None:
    problems = problems_of(cloud_event() | {"datacontenttype": "text/plain"})
    assert problems == ['datacontenttype: must be application/json, got "text/plain"']


def test_an_event_that_is_not_an_object_is_refused() -> None:
    assert problems_of([1, 2]) == ["the event must be a JSON object, got array"]


def test_booleans_are_not_counts() -> None:
    assert problems_of(cloud_event(requests=True)) == [
        "data.requests: must be an integer >= 0, got boolean true"
    ]


def test_empty_strings_are_refused() -> None:
    assert problems_of(cloud_event(event_id=" ")) == ["id: must not be empty"]


def test_malformed_json_says_where() -> None:
    with pytest.raises(MalformedBody, match="malformed JSON: Expecting ',' delimiter at line 1 column 9"):
        decode_json(b'{"a": 1 "b": 2}')
    with pytest.raises(MalformedBody, match="NaN is not valid JSON"):
        decode_json(b'{"a": NaN}')
    with pytest.raises(MalformedBody, match="not UTF-8"):
        decode_json(b'{"a": "\xff"}')


def test_a_batch_must_be_an_array() -> None:
    assert batch_items([{"a": 1}]) == [{"a": 1}]
    with pytest.raises(MalformedBody, match="a batch must be a JSON array of CloudEvents, got object"):
        batch_items({"a": 1})


def test_the_attributes_of_an_invalid_event_are_kept_for_its_dead_letter() -> None:
    assert event_attributes(cloud_event(event_id="e-5")) == {
        "ce-id": "e-5",
        "ce-source": "/inference/gw-1",
        "ce-type": "io.aifactory.usage.inference",
    }
    assert event_attributes({"id": 5}) == {}
    assert event_attributes("x") == {}

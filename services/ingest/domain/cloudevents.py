"""External usage as CloudEvents 1.0 (JSON structured mode), parsed into a typed ExternalUsage.

Every problem in an event is collected and reported together, each naming the attribute it is about
(`data.requests: must be an integer >= 0, got -3`), so a client fixes its event in one round.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.ingest.domain.errors import InvalidEvent, MalformedBody
from services.ingest.domain.records import ExternalUsage
from services.ingest.domain.time_window import TimeLimits, time_problem
from shared.events.text import json_text_problems

SPECVERSION = "1.0"
USAGE_EVENT_TYPE = "io.aifactory.usage.inference"
ACCEPTED_TYPES = frozenset({USAGE_EVENT_TYPE})
MAX_ID_CHARS = 1024  # id and source together are the dedupe key
MAX_NAME_CHARS = 256
MAX_COUNT = 2**63 - 1  # what a PostgreSQL bigint holds downstream

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_COUNTERS = ("requests", "input_tokens", "output_tokens")
_DATA_FIELDS = frozenset({"tenant_id", "project_id", "model_name", "job_id", *_COUNTERS})


def decode_json(body: bytes) -> Any:
    """The JSON value in `body`; MalformedBody says where the JSON is broken, or where it holds text no
    database can store (a NUL, a lone surrogate: shared/events/text.py)."""
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise MalformedBody(
            f"malformed JSON: the body is not UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    except json.JSONDecodeError as error:
        raise MalformedBody(
            f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError as error:
        raise MalformedBody(f"malformed JSON: {error}") from None
    for path, problem in json_text_problems(value):
        raise MalformedBody(f"malformed JSON: {path or 'the body'}: {problem}")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def batch_items(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedBody(f"a batch must be a JSON array of CloudEvents, got {json_type(value)}")
    return value


def parse_usage_event(value: Any, *, now: datetime, limits: TimeLimits) -> ExternalUsage:
    """A validated ExternalUsage, or InvalidEvent listing every problem found."""
    if not isinstance(value, Mapping):
        raise InvalidEvent([f"the event must be a JSON object, got {json_type(value)}"])
    problems: list[str] = []
    specversion = value.get("specversion")
    if specversion is None:
        problems.append(f'specversion: required (must be "{SPECVERSION}")')
    elif specversion != SPECVERSION:
        problems.append(f'specversion: must be "{SPECVERSION}", got {_show(specversion)}')
    event_id = _text(value, "id", problems, max_chars=MAX_ID_CHARS)
    source = _text(value, "source", problems, max_chars=MAX_ID_CHARS)
    event_type = _text(value, "type", problems, max_chars=MAX_NAME_CHARS)
    if event_type is not None and event_type not in ACCEPTED_TYPES:
        problems.append(f"type: must be {' or '.join(map(repr, sorted(ACCEPTED_TYPES)))}, got {event_type!r}")
    time = _time(value, problems, now=now, limits=limits)
    content_type = value.get("datacontenttype")
    if content_type is not None and not _is_json_media_type(content_type):
        problems.append(f"datacontenttype: must be application/json, got {_show(content_type)}")
    data = _data(value, problems)
    if problems or data is None:
        raise InvalidEvent(problems)
    tenant_id, project_id = data["tenant_id"], data["project_id"]
    assert event_id and source and time and tenant_id and project_id  # no problems means all are present
    return ExternalUsage(
        source=source,
        event_id=event_id,
        time=time,
        tenant_id=tenant_id,
        project_id=project_id,
        requests=data["requests"],
        input_tokens=data["input_tokens"],
        output_tokens=data["output_tokens"],
        model_name=data["model_name"],
        job_id=data["job_id"],
    )


def event_attributes(value: Any) -> dict[str, str]:
    """The CloudEvents id, source and type of a (maybe invalid) event, as ce-* headers for a dead letter."""
    if not isinstance(value, Mapping):
        return {}
    return {f"ce-{key}": value[key] for key in ("id", "source", "type") if isinstance(value.get(key), str)}


def _data(event: Mapping[str, Any], problems: list[str]) -> dict[str, Any] | None:
    if "data" not in event:
        if "data_base64" in event:
            problems.append("data_base64: not supported, send data as a JSON object")
        else:
            problems.append("data: required (a JSON object with tenant_id, project_id and the counters)")
        return None
    data = event["data"]
    if not isinstance(data, Mapping):
        problems.append(f"data: must be a JSON object, got {json_type(data)}")
        return None
    before = len(problems)
    parsed: dict[str, Any] = {
        "tenant_id": _text(data, "tenant_id", problems, prefix="data.", max_chars=MAX_NAME_CHARS),
        "project_id": _text(data, "project_id", problems, prefix="data.", max_chars=MAX_NAME_CHARS),
        "model_name": _text(
            data, "model_name", problems, prefix="data.", max_chars=MAX_NAME_CHARS, required=False
        ),
        "job_id": _text(data, "job_id", problems, prefix="data.", max_chars=MAX_NAME_CHARS, required=False),
    }
    for counter in _COUNTERS:
        parsed[counter] = _count(data, counter, problems)
    for unknown in sorted(set(data) - _DATA_FIELDS):
        problems.append(f"data.{unknown}: unknown field (expected {', '.join(sorted(_DATA_FIELDS))})")
    return parsed if len(problems) == before else None


def _text(
    obj: Mapping[str, Any],
    key: str,
    problems: list[str],
    *,
    max_chars: int,
    prefix: str = "",
    required: bool = True,
) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            problems.append(f"{prefix}{key}: required")
        return None
    if not isinstance(value, str):
        problems.append(f"{prefix}{key}: must be a string, got {json_type(value)}")
    elif not value.strip():
        problems.append(f"{prefix}{key}: must not be empty")
    elif len(value) > max_chars:
        problems.append(f"{prefix}{key}: longer than {max_chars} characters")
    else:
        return value
    return None


def _count(data: Mapping[str, Any], key: str, problems: list[str]) -> int | None:
    value = data.get(key)
    # bool is an int in Python but not a number in JSON.
    if value is None:
        problems.append(f"data.{key}: required (an integer >= 0)")
    elif isinstance(value, bool) or not isinstance(value, int):
        problems.append(f"data.{key}: must be an integer >= 0, got {json_type(value)} {_show(value)}")
    elif value < 0:
        problems.append(f"data.{key}: must be an integer >= 0, got {value}")
    elif value > MAX_COUNT:
        problems.append(f"data.{key}: must be at most {MAX_COUNT}, got {value}")
    else:
        return value
    return None


def _time(
    event: Mapping[str, Any], problems: list[str], *, now: datetime, limits: TimeLimits
) -> datetime | None:
    value = event.get("time")
    if value is None:
        problems.append("time: required (an RFC 3339 timestamp)")
        return None
    if not isinstance(value, str) or not _RFC3339.match(value):
        problems.append(
            f"time: must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z, got {_show(value)}"
        )
        return None
    try:
        parsed = datetime.fromisoformat(value.upper().replace(" ", "T"))
    except ValueError as error:
        problems.append(f"time: {value!r} is not a valid date and time ({error})")
        return None
    if (problem := time_problem(parsed, now, limits)) is not None:
        problems.append(f"time: {problem}")
        return None
    return parsed


def _is_json_media_type(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    shown = json.dumps(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."

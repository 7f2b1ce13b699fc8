"""External usage over HTTP through the real service: recorded once, or refused as problem+json and dead letter."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.ingest.conftest import AUTH, MAX_BODY, Harness
from tests.unit.ingest.builders import cloud_event, project, tenant, unique

SINGLE = {**AUTH, "Content-Type": "application/cloudevents+json"}
BATCH = {**AUTH, "Content-Type": "application/cloudevents-batch+json"}


async def known_tenant(ingest: Harness) -> tuple[str, str]:
    """A tenant and project the gateway announced, once ingest has heard of both."""
    tenant_id, project_id = unique("tenant"), unique("project")
    await ingest.publish(tenant(tenant_id))
    await ingest.publish(project(tenant_id, project_id))
    known = "SELECT count(*) FROM projects WHERE tenant_id = $1"
    assert await ingest.wait_count(known, tenant_id, expected=1) == 1
    assert (
        await ingest.wait_count("SELECT count(*) FROM tenants WHERE tenant_id = $1", tenant_id, expected=1)
        == 1
    )
    return tenant_id, project_id


async def test_external_usage_is_recorded(ingest: Harness) -> None:
    tenant_id, project_id = await known_tenant(ingest)
    source = unique("/inference")
    event = cloud_event(
        datetime.now(UTC), event_id="e-1", source=source, tenant_id=tenant_id, project_id=project_id
    )

    response = await ingest.http.post("/v1/usage", headers=SINGLE, content=json.dumps(event))

    assert response.status_code == 202, response.text
    [record] = await ingest.wait_records(lambda r: r.source_event_id == f"{source}/e-1")
    assert (record.source, record.tenant_id, record.project_id) == ("external", tenant_id, project_id)
    assert (record.requests, record.input_tokens, record.output_tokens) == (3, 1200, 800)


async def test_a_repeated_event_is_accepted_and_recorded_once(ingest: Harness) -> None:
    tenant_id, project_id = await known_tenant(ingest)
    source, now = unique("/inference"), datetime.now(UTC)
    event = cloud_event(now, event_id="e-1", source=source, tenant_id=tenant_id, project_id=project_id)
    marker = cloud_event(now, event_id="e-2", source=source, tenant_id=tenant_id, project_id=project_id)

    first = await ingest.http.post("/v1/usage", headers=SINGLE, content=json.dumps(event))
    again = await ingest.http.post("/v1/usage", headers=SINGLE, content=json.dumps(event))
    await ingest.http.post("/v1/usage", headers=SINGLE, content=json.dumps(marker))

    assert (first.status_code, first.json()["duplicates"]) == (202, 0)
    assert (again.status_code, again.json()["duplicates"]) == (202, 1)
    records = await ingest.wait_records(lambda r: r.source_event_id.startswith(source), expected=2)
    assert [r.source_event_id for r in records] == [f"{source}/e-1", f"{source}/e-2"]


async def test_a_batch_records_the_valid_events_and_rejects_the_others_by_index(ingest: Harness) -> None:
    tenant_id, project_id = await known_tenant(ingest)
    source, now = unique("/inference"), datetime.now(UTC)
    items = [
        cloud_event(now, event_id="ok", source=source, tenant_id=tenant_id, project_id=project_id),
        cloud_event(
            now, event_id="bad", source=source, tenant_id=tenant_id, project_id=project_id, requests=-1
        ),
    ]

    response = await ingest.http.post("/v1/usage", headers=BATCH, content=json.dumps(items))

    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], [r["index"] for r in body["rejected"]]) == (1, [1])
    assert await ingest.wait_records(lambda r: r.source_event_id.startswith(source))
    letter = await ingest.service.db.fetchrow("SELECT event_id, payload, reason FROM dead_letters")
    assert letter is not None and letter["event_id"] == "bad"
    assert json.loads(letter["payload"]) == items[1]
    assert letter["reason"] == "batch index 1: invalid_event: data.requests: must be an integer >= 0, got -1"


def _event(tenant_id: str, project_id: str, **data: Any) -> dict[str, Any]:
    return cloud_event(
        datetime.now(UTC), event_id=unique("e"), tenant_id=tenant_id, project_id=project_id, **data
    )


def _body(event: dict[str, Any], *, drop: str = "", **attributes: Any) -> str:
    return json.dumps({key: value for key, value in event.items() if key != drop} | attributes)


@dataclass(frozen=True)
class BadInput:
    build: Callable[[str, str], str]  # the body, from a known tenant and project
    status: int
    code: str
    detail: str  # what the problem's detail must say


UNKNOWN_TENANT = unique("nobody")
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).isoformat()
BAD_INPUTS = {
    "unknown tenant": BadInput(
        lambda t, p: _body(_event(UNKNOWN_TENANT, p)),
        422,
        "unknown_tenant",
        f"unknown tenant '{UNKNOWN_TENANT}'",
    ),
    "unknown project": BadInput(
        lambda t, p: _body(_event(t, "nope")), 422, "unknown_project", "project 'nope'"
    ),
    "negative": BadInput(lambda t, p: _body(_event(t, p, input_tokens=-7)), 422, "invalid_event", "got -7"),
    "missing attribute": BadInput(
        lambda t, p: _body(_event(t, p), drop="source"), 422, "invalid_event", "source: required"
    ),
    "wrong type": BadInput(
        lambda t, p: _body(_event(t, p, requests="2")), 422, "invalid_event", 'string "2"'
    ),
    "bad time": BadInput(
        lambda t, p: _body(_event(t, p), time=TOMORROW), 422, "invalid_event", "in the future"
    ),
    "malformed JSON": BadInput(
        lambda t, p: '{"specversion": "1.0",', 400, "malformed_body", "malformed JSON"
    ),
    # Text no database can store: answered as malformed, naming where it is (never a 500).
    "NUL": BadInput(
        lambda t, p: _body(_event(t, p, model_name="llama\x00")),
        400,
        "malformed_body",
        "data.model_name: must not contain a NUL character",
    ),
    "lone surrogate": BadInput(
        lambda t, p: _body(_event(t, p), source="/inference/\ud800"),
        400,
        "malformed_body",
        "source: must not contain a lone surrogate",
    ),
    # Far over the limit: the service answers without reading it all.
    "oversize": BadInput(lambda t, p: "x" * (64 * MAX_BODY), 413, "payload_too_large", f"{MAX_BODY} bytes"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
async def test_bad_input_is_a_problem_and_a_dead_letter(ingest: Harness, case: str) -> None:
    bad = BAD_INPUTS[case]
    tenant_id, project_id = await known_tenant(ingest)

    response = await ingest.http.post("/v1/usage", headers=SINGLE, content=bad.build(tenant_id, project_id))

    assert response.status_code == bad.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["status"]) == (bad.code, bad.status)
    assert bad.detail in problem["detail"]
    letter = await ingest.service.db.fetchrow("SELECT consumer, subject, reason, payload FROM dead_letters")
    assert letter is not None
    assert (letter["consumer"], letter["subject"]) == ("ingest-http", "POST /v1/usage")
    assert letter["reason"].startswith(bad.code) and letter["payload"]
    assert await ingest.count("SELECT count(*) FROM external_keys") == 0


async def test_a_batch_holding_a_nul_is_a_400_naming_the_event(ingest: Harness) -> None:
    tenant_id, project_id = await known_tenant(ingest)
    batch = [_event(tenant_id, project_id), _event(tenant_id, project_id, job_id="j\x00")]

    response = await ingest.http.post("/v1/usage", headers=BATCH, content=json.dumps(batch))

    assert response.status_code == 400, response.text
    assert "1.data.job_id: must not contain a NUL" in response.json()["detail"]
    assert await ingest.count("SELECT count(*) FROM external_keys") == 0

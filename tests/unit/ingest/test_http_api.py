"""The HTTP edge over the in-memory store: status codes, problem+json bodies, authentication."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from services.ingest.adapters.http.api import OVERSIZE_PREFIX_BYTES, create_http_app
from services.ingest.app.external import ExternalUsageIngest
from services.ingest.domain.time_window import TimeLimits
from shared.clock import ManualClock
from tests.unit.ingest.builders import T0, cloud_event
from tests.unit.ingest.fakes import FakeState, FakeUnitOfWork

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SINGLE = {**AUTH, "Content-Type": "application/cloudevents+json"}
BATCH = {**AUTH, "Content-Type": "application/cloudevents-batch+json"}
MAX_BODY = 4096


@pytest.fixture
def state() -> FakeState:
    state = FakeState(now=T0)
    state.tenants.add("acme")
    state.projects.add(("acme", "vision"))
    return state


@pytest.fixture
async def client(state: FakeState) -> AsyncIterator[httpx.AsyncClient]:
    unit_of_work = FakeUnitOfWork(state)
    ingest = ExternalUsageIngest(unit_of_work, ManualClock(T0), TimeLimits())
    app = create_http_app(ingest, unit_of_work, token=TOKEN, max_body_bytes=MAX_BODY)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        yield client


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["code"] == code
    assert problem["type"] == f"urn:aifactory:problem:{code}"
    return problem  # type: ignore[no-any-return]


async def test_a_valid_event_is_accepted(client: httpx.AsyncClient, state: FakeState) -> None:
    response = await client.post("/v1/usage", headers=SINGLE, json=cloud_event())
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert len(state.emitted) == 1


async def test_the_media_type_may_carry_a_charset(client: httpx.AsyncClient) -> None:
    headers = {**AUTH, "Content-Type": "application/cloudevents+json; charset=utf-8"}
    response = await client.post("/v1/usage", headers=headers, content=json.dumps(cloud_event()))
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"Content-Type": "application/cloudevents+json"}, "missing Authorization: Bearer <token>"),
        (
            {"Content-Type": "application/cloudevents+json", "Authorization": "Bearer nope"},
            "invalid bearer token",
        ),
        ({"Content-Type": "application/cloudevents+json", "Authorization": f"Basic {TOKEN}"}, "missing"),
    ],
)
async def test_without_the_token_nothing_is_accepted_or_stored(
    client: httpx.AsyncClient, state: FakeState, headers: dict[str, str], detail: str
) -> None:
    response = await client.post("/v1/usage", headers=headers, json=cloud_event())
    problem = assert_problem(response, 401, "unauthorized")
    assert str(problem["detail"]).startswith(detail)
    assert response.headers["www-authenticate"] == "Bearer"
    assert state.emitted == [] and state.dead_letters == []


async def test_an_unknown_tenant_is_a_422_naming_it(client: httpx.AsyncClient, state: FakeState) -> None:
    response = await client.post("/v1/usage", headers=SINGLE, json=cloud_event(tenant_id="initech"))
    problem = assert_problem(response, 422, "unknown_tenant")
    assert problem["detail"] == "unknown tenant 'initech'"
    assert len(state.dead_letters) == 1


async def test_an_invalid_event_lists_its_problems(client: httpx.AsyncClient, state: FakeState) -> None:
    response = await client.post("/v1/usage", headers=SINGLE, json=cloud_event(requests=-1, input_tokens="x"))
    problem = assert_problem(response, 422, "invalid_event")
    assert problem["errors"] == [
        "data.requests: must be an integer >= 0, got -1",
        'data.input_tokens: must be an integer >= 0, got string "x"',
    ]
    assert problem["detail"] == "; ".join(problem["errors"])  # type: ignore[arg-type]
    assert len(state.dead_letters) == 1


async def test_malformed_json_is_a_400(client: httpx.AsyncClient, state: FakeState) -> None:
    response = await client.post("/v1/usage", headers=SINGLE, content=b'{"specversion": ')
    problem = assert_problem(response, 400, "malformed_body")
    assert "malformed JSON: Expecting value at line 1 column 17" in str(problem["detail"])
    assert state.dead_letters[0].payload == b'{"specversion": '


async def test_another_media_type_is_a_415(client: httpx.AsyncClient, state: FakeState) -> None:
    response = await client.post(
        "/v1/usage", headers={**AUTH, "Content-Type": "application/json"}, content=b"{}"
    )
    problem = assert_problem(response, 415, "unsupported_media_type")
    assert "unsupported Content-Type 'application/json'" in str(problem["detail"])
    assert state.dead_letters[0].reason.startswith("unsupported_media_type:")


async def test_an_oversize_body_is_a_413_and_only_its_start_is_kept(
    client: httpx.AsyncClient, state: FakeState
) -> None:
    response = await client.post("/v1/usage", headers=SINGLE, content=b"x" * (100 * 1024))
    problem = assert_problem(response, 413, "payload_too_large")
    assert problem["detail"] == f"the request body exceeds the limit of {MAX_BODY} bytes"
    assert state.dead_letters[0].payload == b"x" * OVERSIZE_PREFIX_BYTES
    assert f"exceeds {MAX_BODY} bytes" in state.dead_letters[0].reason


async def test_an_oversize_body_without_a_length_is_cut_off_too(
    client: httpx.AsyncClient, state: FakeState
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    response = await client.post("/v1/usage", headers=SINGLE, content=chunks())
    assert_problem(response, 413, "payload_too_large")
    assert state.emitted == [] and state.dead_letters[0].payload == b"y" * MAX_BODY


async def test_a_batch_reports_rejections_by_index(client: httpx.AsyncClient, state: FakeState) -> None:
    items = [cloud_event(event_id="a"), cloud_event(event_id="b", requests=-2), cloud_event(event_id="a")]
    response = await client.post("/v1/usage", headers=BATCH, content=json.dumps(items))
    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "rejected": [
            {"index": 1, "code": "invalid_event", "reason": "data.requests: must be an integer >= 0, got -2"}
        ],
    }
    assert len(state.emitted) == 1 and len(state.dead_letters) == 1


async def test_dead_letters_are_listed_newest_first_for_the_token_holder(
    client: httpx.AsyncClient, state: FakeState
) -> None:
    for tenant in ("t1", "t2", "t3"):
        await client.post("/v1/usage", headers=SINGLE, json=cloud_event(tenant_id=tenant))
    response = await client.get("/v1/dead-letters", params={"limit": 2}, headers=AUTH)
    assert response.status_code == 200
    letters = response.json()["dead_letters"]
    assert [letter["reason"] for letter in letters] == [
        "unknown_tenant: unknown tenant 't3'",
        "unknown_tenant: unknown tenant 't2'",
    ]
    assert letters[0]["consumer"] == "ingest-http" and letters[0]["subject"] == "POST /v1/usage"
    assert_problem(await client.get("/v1/dead-letters"), 401, "unauthorized")


async def test_a_bad_limit_is_a_problem(client: httpx.AsyncClient) -> None:
    problem = assert_problem(
        await client.get("/v1/dead-letters?limit=0", headers=AUTH), 422, "invalid_request"
    )
    assert "query.limit" in str(problem["detail"])


async def test_health_and_unknown_routes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert_problem(await client.get("/v1/nothing"), 404, "not_found")

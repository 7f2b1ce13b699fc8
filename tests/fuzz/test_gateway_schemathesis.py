"""Schemathesis over the gateway's OpenAPI, against the real factory: generated requests (valid and
invalid) to every operation, as the operator and as a tenant's admin. Nothing may answer 5xx, and every
error is RFC 9457 problem+json.

Stateful runs over the document's links: test_gateway_links.py."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.schemas import OpenApiSchema

from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory

CASES_PER_OPERATION = 18  # per generation mode: 33 operations x 2 modes, over 1,000 cases
PROBLEM_JSON = "application/problem+json"

FUZZ_SETTINGS = hypothesis.settings(
    deadline=None,
    derandomize=True,  # the same cases on every run: a failure here is reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],  # no shrinking: report and move on
)


class Identities:
    """The operator and a tenant's admin, taken in turn so each identity meets every operation."""

    def __init__(self, operator_key: str, tenant_key: str) -> None:
        self._keys = itertools.cycle((operator_key, tenant_key))

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {next(self._keys)}"}


def assert_acceptable(response: Any, what: str) -> None:
    status = response.status_code
    assert status < 500, f"{what}: {status} {response.text[:500]}"
    if status >= 400:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith(PROBLEM_JSON), f"{what}: {status} as {content_type}"
        problem = response.json()
        assert problem["status"] == status and problem["title"] and problem["type"], (what, problem)


@pytest.fixture(scope="module")
def gateway_schema(factory: Factory) -> OpenApiSchema:
    schema = schemathesis.openapi.from_url(f"{factory.gateway_url}/openapi.json", wait_for_schema=30)
    schema.config.base_url = factory.gateway_url
    schema.config.generation.update(max_examples=CASES_PER_OPERATION, deterministic=True)
    return schema


@pytest.fixture(scope="module")
def identities(factory: Factory) -> Identities:
    operator = GatewayClient(factory.gateway_url, factory.admin_key)
    tenant = operator.create_tenant("fuzzed", "USD")
    operator.with_key(tenant["admin_key"]).create_project("fuzzing")
    return Identities(factory.admin_key, tenant["admin_key"])


def fuzz(operation: Any, mode: GenerationMode, call: Callable[[schemathesis.Case], Any]) -> int:
    """Runs the operation's generated cases of one mode; returns how many ran."""
    ran = 0

    @hypothesis.settings(FUZZ_SETTINGS, max_examples=CASES_PER_OPERATION)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        nonlocal ran
        assert_acceptable(call(case), f"{case.as_curl_command()} ({mode.value})")
        ran += 1

    # Unsatisfiable: nothing of this operation can be made invalid (no parameters, no body).
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()
    return ran


def test_generated_requests_never_get_a_5xx_and_errors_are_problem_json(
    gateway_schema: OpenApiSchema, identities: Identities, factory: Factory
) -> None:
    session = requests.Session()

    def call(case: schemathesis.Case) -> Any:
        return case.call(
            base_url=factory.gateway_url, session=session, headers=identities.headers(), timeout=10
        )

    ran: Counter[str] = Counter()
    started = time.monotonic()
    for result in gateway_schema.get_all_operations():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            assert isinstance(result, Ok), result
            ran[mode.value] += fuzz(result.ok(), mode, call)
    total = sum(ran.values())
    print(f"\nschemathesis: {total} cases {dict(ran)} in {time.monotonic() - started:.1f}s")
    assert total >= 1000, ran

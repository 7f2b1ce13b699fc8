"""Stateful fuzzing over the OpenAPI document's links, against the real factory: a generated create (a
tenant, a project, a job, a webhook, an invoice finalization), then each operation its 2xx response links
to, called with the values the link takes from that response and generated values for the rest. Nothing
may answer 5xx, every error is problem+json, and the runs must reach a job and the invoices through the
links.

Both requests are drawn before either is sent, whatever the first one answers: Hypothesis requires that
the same draws give the same shape of test case, which a state machine fed by a live factory's answers
cannot promise (the reason schemathesis's own state machine is not used here). The ids of the fuzzing
tenant and its project replace generated ones in the create, so that creates succeed often enough for
the links to be followed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema

from shared.client.gateway import GatewayClient
from shared.infra.launcher import Factory
from tests.fuzz.test_gateway_schemathesis import FUZZ_SETTINGS, assert_acceptable, gateway_schema

__all__ = ["gateway_schema"]

WALKS_PER_LINK = 16


@dataclass(frozen=True)
class Link:
    source: str  # operationId
    status: str  # the source's response that carries the link
    name: str
    target: str  # operationId
    parameters: dict[str, str]  # "path.job_id" -> runtime expression


def links_of(schema: OpenApiSchema) -> list[Link]:
    found = []
    for methods in schema.raw_schema["paths"].values():
        for operation in methods.values():
            for status, response in operation.get("responses", {}).items():
                for name, link in response.get("links", {}).items():
                    found.append(
                        Link(operation["operationId"], status, name, link["operationId"], link["parameters"])
                    )
    return found


def resolve(expression: str, body: Any) -> Any:
    """A link's runtime expression: "$response.body#/a/b" (what the gateway's links use), or a constant."""
    if not expression.startswith("$response.body#"):
        return expression
    value = body
    for part in expression.removeprefix("$response.body#").strip("/").split("/"):
        value = value[part] if isinstance(value, dict) else None
    return value


def fill(case: schemathesis.Case, known: dict[str, str]) -> None:
    """Known ids in place of generated ones wherever the request has a parameter or field of that name."""
    for name, value in known.items():
        for where in (case.path_parameters, case.query):
            if where is not None and name in where:
                where[name] = value
        if isinstance(case.body, dict) and name in case.body:
            case.body[name] = value


@pytest.fixture(scope="module")
def fuzzing_tenant(factory: Factory) -> tuple[dict[str, str], str]:
    """The ids to fill in, and the tenant admin's key."""
    operator = GatewayClient(factory.gateway_url, factory.admin_key)
    tenant = operator.create_tenant("link-walker", "USD")
    project = operator.with_key(tenant["admin_key"]).create_project("walked")
    return {"tenant_id": tenant["tenant_id"], "project_id": project["project_id"]}, tenant["admin_key"]


class Walker:
    def __init__(
        self, schema: OpenApiSchema, factory: Factory, known: dict[str, str], tenant_key: str
    ) -> None:
        self.schema, self.factory, self.known, self.tenant_key = schema, factory, known, tenant_key
        self.session = requests.Session()
        self.reached: Counter[str] = Counter()  # target operations that answered 2xx through a link
        self.walked = 0

    def call(self, case: schemathesis.Case, key: str) -> Any:
        headers = {"Authorization": f"Bearer {key}"}
        return case.call(base_url=self.factory.gateway_url, session=self.session, headers=headers, timeout=10)

    def walk(self, link: Link) -> None:
        source = self.schema.find_operation_by_id(link.source)
        target = self.schema.find_operation_by_id(link.target)

        @hypothesis.settings(FUZZ_SETTINGS, max_examples=WALKS_PER_LINK)
        @given(
            first=source.as_strategy(generation_mode=GenerationMode.POSITIVE),
            then=target.as_strategy(generation_mode=GenerationMode.POSITIVE),
            as_operator=hypothesis.strategies.booleans(),
        )
        def one_walk(first: schemathesis.Case, then: schemathesis.Case, as_operator: bool) -> None:
            key = self.factory.admin_key if as_operator else self.tenant_key
            fill(first, self.known)
            created = self.call(first, key)
            assert_acceptable(created, f"{first.as_curl_command()} (link source)")
            if str(created.status_code) != link.status:
                return
            for located, expression in link.parameters.items():
                where, _, parameter = located.partition(".")
                if where == "path":
                    then.path_parameters = (then.path_parameters or {}) | {
                        parameter: resolve(expression, created.json())
                    }
                else:
                    then.query = (then.query or {}) | {parameter: resolve(expression, created.json())}
            followed = self.call(then, key)
            assert_acceptable(followed, f"{then.as_curl_command()} (link {link.name} from {link.source})")
            self.walked += 1
            if followed.status_code < 300:
                self.reached[link.target] += 1

        one_walk()


def test_following_the_links_from_each_create_never_gets_a_5xx(
    gateway_schema: OpenApiSchema, factory: Factory, fuzzing_tenant: tuple[dict[str, str], str]
) -> None:
    known, tenant_key = fuzzing_tenant
    walker = Walker(gateway_schema, factory, known, tenant_key)
    links = links_of(gateway_schema)
    assert len(links) >= 10, links
    for link in links:
        walker.walk(link)
    reached = walker.reached
    print(f"\nlinks: {len(links)} links, {walker.walked} followed; 2xx reached: {dict(reached)}")
    assert reached["get_job_v1_jobs__job_id__get"] > 0, reached
    assert reached["list_invoices_v1_invoices_get"] > 0, reached

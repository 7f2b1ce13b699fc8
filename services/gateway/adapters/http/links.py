"""OpenAPI links from a create to the reads and updates of what it returned, so a client, and
stateful fuzzing, can follow a tenant to its projects, a project to its quotas, a job to its cancel.
None starts from a list's first item: whether it exists depends on what the factory holds at the time
(tests/fuzz/test_gateway_links.py follows every link from a create's answer)."""

from __future__ import annotations

from typing import Any


def to(operation: str, **parameters: str) -> dict[str, Any]:
    """A link to the operation named by FastAPI's operationId; parameters as `path_x` / `query_x`
    keywords (runtime expressions such as "$response.body#/tenant_id")."""
    located = {name.replace("_", ".", 1): value for name, value in parameters.items()}
    return {"operationId": operation, "parameters": located}


def linked(status_code: int, **links: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    """The `responses` argument of a route: its success response with these named links."""
    return {status_code: {"links": links}}


TENANT = "$response.body#/tenant_id"
PROJECT = "$response.body#/project_id"
JOB = "$response.body#/job_id"

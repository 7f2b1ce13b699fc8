"""Ingest's domain errors, each with a stable code; HTTP maps them to problem+json, the bus to dead letters."""

from __future__ import annotations

from typing import ClassVar


class IngestError(Exception):
    """Input ingest refuses. `str(error)` is the operator-readable reason (it goes to the dead letter)."""

    code: ClassVar[str] = "invalid_usage"


class MalformedBody(IngestError):
    """The body is not the JSON it should be (not JSON at all, or not the expected JSON shape)."""

    code = "malformed_body"


class InvalidEvent(IngestError):
    """A parsed event with one or more problems; all of them are collected, not just the first."""

    code = "invalid_event"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class UnknownTenant(IngestError):
    code = "unknown_tenant"

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"unknown tenant {tenant_id!r}")


class UnknownProject(IngestError):
    code = "unknown_project"

    def __init__(self, tenant_id: str, project_id: str) -> None:
        self.tenant_id = tenant_id
        self.project_id = project_id
        super().__init__(f"unknown project {project_id!r} for tenant {tenant_id!r}")

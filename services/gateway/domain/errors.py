"""The gateway's error hierarchy. Each error has a stable code; the HTTP edge maps classes to statuses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from pricing.errors import Problem


@dataclass(frozen=True)
class FieldError:
    """One thing wrong with one input field; `field` is a dotted path such as `spec.gpus_per_replica`."""

    field: str
    message: str
    location: str = "body"  # body | query | header | path


class GatewayError(Exception):
    code: ClassVar[str] = "gateway-error"
    title: ClassVar[str] = "Gateway error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthenticated(GatewayError):
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(GatewayError):
    code = "forbidden"
    title = "Not allowed"


class NotFound(GatewayError):
    code = "not-found"
    title = "Not found"

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind} {identifier} not found")
        self.kind = kind
        self.identifier = identifier


class Conflict(GatewayError):
    code = "conflict"
    title = "Conflict"


class JobAlreadyFinished(Conflict):
    code = "job-finished"
    title = "Job already finished"


class InvalidInput(GatewayError):
    """Input that parsed but breaks a rule; carries every field error found, not just the first."""

    code = "invalid-input"
    title = "Invalid input"

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def one(cls, field: str, message: str, location: str = "body") -> InvalidInput:
        return cls([FieldError(field, message, location)])


def field_errors(problems: Iterable[Problem], location: str = "body") -> list[FieldError]:
    """The pricing core's problems (pricing.errors) as the field errors of a 422 problem."""
    return [FieldError(problem.field, problem.message, location) for problem in problems]


def refuse(problems: Iterable[Problem], location: str = "body") -> None:
    """InvalidInput naming every problem, if there is one."""
    if errors := field_errors(problems, location):
        raise InvalidInput(errors)


class IdempotencyKeyReused(GatewayError):
    code = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class DoesNotFitFleet(GatewayError):
    code = "does-not-fit-fleet"
    title = "Job does not fit the fleet"


class RejectedEvent(GatewayError):
    """An event that can never apply (say, it names a job this gateway never accepted): dead-lettered."""

    code = "rejected-event"
    title = "Event rejected"

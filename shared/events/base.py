"""The event envelope shared by every contract.

Each concrete event names its CloudEvents type (which is also the subject when the subject has no
node in it) and its subject template. On the wire the body is the event's JSON; the headers carry
Nats-Msg-Id, the CloudEvents binary-mode attributes and the W3C traceparent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

CE_SPECVERSION = "1.0"
CE_SOURCE_PREFIX = "/aifactory/"


class Contract(BaseModel):
    """A strict, immutable payload model: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(Contract):
    TYPE: ClassVar[str]
    SUBJECT: ClassVar[str]
    PRODUCER: ClassVar[str]
    # The field whose value becomes ce-subject (the entity the event is about).
    ENTITY_FIELD: ClassVar[str | None] = None

    event_id: UUID = Field(default_factory=uuid4)
    occurred_at: datetime
    tenant_id: str | None = None

    @property
    def producer(self) -> str:
        return self.PRODUCER

    def subject(self) -> str:
        return self.SUBJECT.format(**{k: getattr(self, k) for k in self.subject_fields()})

    @classmethod
    def subject_fields(cls) -> list[str]:
        import string

        return [name for _, name, _, _ in string.Formatter().parse(cls.SUBJECT) if name]

    @classmethod
    def subject_filter(cls) -> str:
        """The subject with every placeholder as a wildcard, for consumers of all nodes."""
        parts = cls.SUBJECT.split(".")
        return ".".join("*" if p.startswith("{") else p for p in parts)

    def headers(self, traceparent: str | None = None) -> dict[str, str]:
        headers = {
            "Nats-Msg-Id": str(self.event_id),
            "ce-specversion": CE_SPECVERSION,
            "ce-id": str(self.event_id),
            "ce-source": CE_SOURCE_PREFIX + self.PRODUCER,
            "ce-type": self.TYPE,
            "ce-time": self.occurred_at.isoformat(),
            "content-type": "application/json",
        }
        entity = getattr(self, self.ENTITY_FIELD) if self.ENTITY_FIELD else None
        if entity is not None:
            headers["ce-subject"] = str(entity)
        if self.tenant_id:
            headers["ce-tenantid"] = self.tenant_id
        if traceparent:
            headers["traceparent"] = traceparent
        return headers


def event_registry(*modules: Any) -> dict[str, type[Event]]:
    """Map CloudEvents type to class for every Event subclass defined in the given modules."""
    registry: dict[str, type[Event]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Event) and hasattr(value, "TYPE"):
                registry[value.TYPE] = value
    return registry

"""The event envelope shared by every contract.

Each concrete event names its CloudEvents type (which is also the subject when the subject has no
node in it) and its subject template. On the wire the body is the event's JSON; the headers carry
Nats-Msg-Id, the CloudEvents binary-mode attributes and the W3C traceparent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, unquote
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

CE_SPECVERSION = "1.0"
CE_SOURCE_PREFIX = "/aifactory/"
CE_DATA_CONTENT_TYPE = "application/json"
CE_STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
# The CloudEvents bindings percent-encode attribute values in headers except printable ASCII other
# than space, '"' and '%' (HTTP binding 3.1.3.2); readers such as the CloudEvents SDK decode them.
_CE_HEADER_SAFE = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in ' "%')


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
        """Binary content mode: the CloudEvents attributes as ce- headers; Nats-Msg-Id (JetStream's
        de-duplication) is the CloudEvents id. Built once per event sent, so kept lean."""
        event_id = str(self.event_id)
        headers = {
            "Nats-Msg-Id": event_id,
            "ce-specversion": CE_SPECVERSION,
            "ce-id": event_id,
            "ce-source": CE_SOURCE_PREFIX + self.PRODUCER,
            "ce-type": self.TYPE,
            "ce-time": rfc3339(self.occurred_at),
            "content-type": CE_DATA_CONTENT_TYPE,
        }
        # Only these two carry values from outside; the others are safe as written.
        entity = getattr(self, self.ENTITY_FIELD) if self.ENTITY_FIELD else None
        if entity is not None:
            headers["ce-subject"] = _header_value(str(entity))
        if self.tenant_id:
            headers["ce-tenantid"] = _header_value(self.tenant_id)
        if traceparent:
            headers["traceparent"] = traceparent
        return headers

    def cloudevent_attributes(self) -> dict[str, str]:
        """The CloudEvents 1.0 context attributes (extension `tenantid` where the event has a tenant)."""
        return {name[3:]: unquote(value) for name, value in self.headers().items() if name.startswith("ce-")}

    def structured(self) -> bytes:
        """Structured content mode (application/cloudevents+json): attributes and data in one JSON object."""
        envelope: dict[str, Any] = self.cloudevent_attributes()
        envelope["datacontenttype"] = CE_DATA_CONTENT_TYPE
        envelope["data"] = json.loads(self.model_dump_json())
        return json.dumps(envelope, separators=(",", ":")).encode()


def _header_value(value: str) -> str:
    """Percent-encoded where needed; the common case is checked without quote's cost."""
    if value.isascii() and value.isprintable() and " " not in value and "%" not in value and '"' not in value:
        return value
    return quote(value, safe=_CE_HEADER_SAFE)


def rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as CloudEvents' `time` requires (a naive time is taken to be UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def event_registry(*modules: Any) -> dict[str, type[Event]]:
    """Map CloudEvents type to class for every Event subclass defined in the given modules."""
    registry: dict[str, type[Event]] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Event) and hasattr(value, "TYPE"):
                registry[value.TYPE] = value
    return registry

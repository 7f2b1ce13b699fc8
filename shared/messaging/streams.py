"""The JetStream streams, one per producer, declared at start-up by every service that uses them."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

DAY_S = 86_400


@dataclass(frozen=True)
class StreamDef:
    name: str
    subjects: tuple[str, ...]
    max_age_s: int
    # JetStream drops a second message with the same Nats-Msg-Id inside this window.
    duplicate_window_s: int = 300


GATEWAY = StreamDef("GATEWAY", ("gateway.>",), 30 * DAY_S)
SCHEDULER = StreamDef("SCHEDULER", ("scheduler.>",), 30 * DAY_S)
# Agents' events and the scheduler's commands to agents (agent.v1.<node>.cmd.*).
AGENT = StreamDef("AGENT", ("agent.>",), 7 * DAY_S)
INGEST = StreamDef("INGEST", ("ingest.>",), 30 * DAY_S)
METERING = StreamDef("METERING", ("metering.>",), 90 * DAY_S)

ALL_STREAMS = (GATEWAY, SCHEDULER, AGENT, INGEST, METERING)


def stream_for_subject(subject: str) -> StreamDef:
    producer = subject.split(".", 1)[0]
    for stream in ALL_STREAMS:
        if stream.subjects[0].split(".", 1)[0] == producer:
            return stream
    raise ValueError(f"no stream holds subject {subject!r}")


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create each stream, or update it to this definition; idempotent, so every service may call it."""
    for stream in ALL_STREAMS:
        config = StreamConfig(
            name=stream.name,
            subjects=list(stream.subjects),
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=stream.max_age_s,
            duplicate_window=stream.duplicate_window_s,
            num_replicas=replicas,
        )
        try:
            await js.stream_info(stream.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:
                # Another service created it between our look and our create.
                await js.update_stream(config)
        else:
            await js.update_stream(config)

"""The JetStream streams, one per producer, declared at start-up by every service that uses them."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

log = logging.getLogger(__name__)

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


# NATS applies its own duplicate window, two minutes, to a stream created with none.
_SERVER_DEFAULT_DUPLICATE_WINDOW_S = 120.0


def stream_config(stream: StreamDef, replicas: int = 1) -> StreamConfig:
    """The configuration a stream is created with when it does not exist yet."""
    return StreamConfig(
        name=stream.name,
        subjects=list(stream.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=stream.max_age_s,
        duplicate_window=stream.duplicate_window_s,
        num_replicas=replicas,
    )


def _age(seconds: float | None) -> float:
    return seconds if seconds else math.inf  # 0 (or none): messages never age out


def _span(seconds: float | None) -> str:
    age = _age(seconds)
    if age == math.inf:
        return "unlimited"
    return f"{age / DAY_S:g}d" if age % DAY_S == 0 else f"{age:g}s"


def _word(value: Any) -> str:
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class StreamMerge:
    """What ensure_streams does to an existing stream: `update` (None: leave it as it is) and, in words,
    what the operator set beyond our definition and was kept."""

    update: StreamConfig | None
    kept: tuple[str, ...]


def merge_stream_config(ours: StreamConfig, current: StreamConfig) -> StreamMerge:
    """Our definition over what the stream has: missing subjects are added and the replicas, age limit
    and duplicate window raised to ours where they are lower; nothing an operator raised is lowered, and
    every other setting (limits, placement, sources) stays as the operator left it."""
    changes: dict[str, Any] = {}
    kept: list[str] = []
    subjects = list(current.subjects or [])
    missing = [subject for subject in ours.subjects or [] if subject not in subjects]
    if missing:
        changes["subjects"] = subjects + missing
    replicas, our_replicas = current.num_replicas or 1, ours.num_replicas or 1
    if replicas < our_replicas:
        changes["num_replicas"] = our_replicas
    elif replicas > our_replicas:
        kept.append(f"num_replicas={replicas} (ours {our_replicas})")
    if _age(current.max_age) < _age(ours.max_age):
        changes["max_age"] = ours.max_age
    elif _age(current.max_age) > _age(ours.max_age):
        kept.append(f"max_age={_span(current.max_age)} (ours {_span(ours.max_age)})")
    window = current.duplicate_window or _SERVER_DEFAULT_DUPLICATE_WINDOW_S
    if window < (ours.duplicate_window or 0):
        changes["duplicate_window"] = ours.duplicate_window
    elif window > (ours.duplicate_window or 0):
        kept.append(f"duplicate_window={_span(window)} (ours {_span(ours.duplicate_window)})")
    for setting in ("retention", "storage"):  # fixed at creation, or the operator's choice
        if getattr(current, setting) != getattr(ours, setting):
            kept.append(
                f"{setting}={_word(getattr(current, setting))} (ours {_word(getattr(ours, setting))})"
            )
    return StreamMerge(replace(current, **changes) if changes else None, tuple(kept))


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create each missing stream with our definition (`replicas` copies); bring an existing one up to it
    without lowering what an operator raised (merge_stream_config). Idempotent: every service calls it."""
    for stream in ALL_STREAMS:
        ours = stream_config(stream, replicas)
        try:
            info = await js.stream_info(stream.name)
        except NotFoundError:
            try:
                await js.add_stream(ours)
                continue
            except BadRequestError:
                # Another service created it between our look and our create.
                info = await js.stream_info(stream.name)
        merge = merge_stream_config(ours, info.config)
        if merge.kept:
            log.info("stream %s: kept the operator's %s", stream.name, ", ".join(merge.kept))
        if merge.update is not None:
            await js.update_stream(merge.update)

"""What a trace reader yields: the engine's JobRequest plus what only a replay knows (how long it runs)."""

from __future__ import annotations

from dataclasses import dataclass

from services.scheduler.domain.engine.model import JobRequest


@dataclass(frozen=True, slots=True)
class TraceJob:
    request: JobRequest  # submitted_at is the trace's submit (creation) time
    duration_s: float | None  # seconds it runs once started; None when the trace does not say
    line: int = 0  # where it came from (1-based; the header is line 1)

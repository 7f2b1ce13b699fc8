"""What test workloads write about themselves (one JSON line when they start and when they end: time, job,
allocation, CUDA_VISIBLE_DEVICES), read back to check from the workloads' side that no GPU held two
workloads at once and no job ran twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    job: str
    allocation: str
    gpus: frozenset[str]
    start: float
    end: float  # infinity for a workload that never wrote its end (killed)


def runs(records: Path) -> list[Run]:
    starts: dict[str, dict[str, str | float]] = {}
    ends: dict[str, float] = {}
    for line in records.read_text().splitlines():
        entry = json.loads(line)
        if entry["what"] == "start":
            starts[entry["allocation"]] = entry
        else:
            ends[entry["allocation"]] = entry["at"]
    return [
        Run(
            str(s["job"]),
            allocation,
            frozenset(str(s["gpus"]).split(",")),
            float(s["at"]),
            ends.get(allocation, float("inf")),
        )
        for allocation, s in starts.items()
    ]


def overlaps(all_runs: list[Run]) -> Iterator[tuple[Run, Run]]:
    for i, first in enumerate(all_runs):
        for second in all_runs[i + 1 :]:
            if first.gpus & second.gpus and first.start < second.end and second.start < first.end:
                yield first, second

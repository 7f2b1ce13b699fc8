"""Fair-share arithmetic: decayed historical usage and dominant resource shares.

Usage history decays exponentially with a half-life, so what a team used an hour ago (with the
default half-life) counts half as much as what it uses now. The caller (the live scheduler, the
simulator) keeps the decayed history between cycles with `decay_usage` and passes it in the snapshot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

# Entries that decayed below this many GPU-seconds are dropped, so the history stays small.
_NEGLIGIBLE_GPU_S = 1e-6


def decay_usage(
    history: Mapping[str, float],
    used_gpu_seconds: Mapping[str, float],
    elapsed_s: float,
    half_life_s: float,
) -> dict[str, float]:
    """The decayed GPU-seconds per queue after `elapsed_s` more seconds.

    `history` is the previous result (queue -> decayed GPU-seconds); `used_gpu_seconds` is what each
    queue used during those `elapsed_s` seconds. Usage is taken as spread evenly over the interval, so
    calling this once for an hour or sixty times for a minute gives the same result.
    """
    if elapsed_s < 0:
        raise ValueError(f"elapsed_s must be >= 0, got {elapsed_s}")
    if half_life_s <= 0:
        raise ValueError(f"half_life_s must be > 0, got {half_life_s}")
    rate = math.log(2) / half_life_s
    factor = math.exp(-rate * elapsed_s)
    # Integral of an even spread, decayed to the end of the interval: (1 - e^-rt) / (r t); 1 as t -> 0.
    spread = 1.0 if elapsed_s == 0 else -math.expm1(-rate * elapsed_s) / (rate * elapsed_s)
    result: dict[str, float] = {}
    for queue in history.keys() | used_gpu_seconds.keys():
        used = used_gpu_seconds.get(queue, 0.0)
        if used < 0:
            raise ValueError(f"used_gpu_seconds[{queue!r}] must be >= 0, got {used}")
        value = history.get(queue, 0.0) * factor + used * spread
        if value > _NEGLIGIBLE_GPU_S:
            result[queue] = value
    return result


def history_share(decayed_gpu_s: float, total_gpus: float, half_life_s: float) -> float:
    """Decayed GPU-seconds as a fraction of the fleet: a queue that used `u` of `total_gpus` GPUs for a
    long time has decayed usage u * half_life / ln 2, which maps back to the share u / total_gpus."""
    if total_gpus <= 0:
        return 0.0
    return decayed_gpu_s * math.log(2) / (half_life_s * total_gpus)


class ResourceUsage:
    """Usage of one queue (or tenant) per resource: GPU thousandths per flavor, CPU, memory."""

    __slots__ = ("amounts",)

    def __init__(self) -> None:
        self.amounts: dict[str, float] = {}

    def add(self, resource: str, amount: float) -> None:
        self.amounts[resource] = self.amounts.get(resource, 0.0) + amount

    def without(self, amounts: Iterable[tuple[str, float]]) -> ResourceUsage:
        """A copy with `amounts` (resource, amount) taken off."""
        rest = ResourceUsage()
        rest.amounts = dict(self.amounts)
        for resource, amount in amounts:
            rest.add(resource, -amount)
        return rest

    def dominant_share(self, capacity: Mapping[str, float]) -> float:
        """The largest fraction of any resource's capacity this usage holds (DRF's dominant share)."""
        share = 0.0
        for resource, amount in self.amounts.items():
            total = capacity.get(resource, 0.0)
            if total > 0 and amount / total > share:
                share = amount / total
        return share


def gpu_resource(flavor: str) -> str:
    return f"gpu:{flavor}"


CPU_RESOURCE = "cpu"
MEMORY_RESOURCE = "memory"

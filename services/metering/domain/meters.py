"""The meters metering bills, each counted in a base unit and invoiced in a larger one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MeterName(StrEnum):
    GPU_HOURS = "gpu_hours"
    ENERGY_KWH = "energy_kwh"
    TOKENS_1K = "tokens_1k"
    REQUESTS = "requests"


@dataclass(frozen=True)
class Meter:
    name: MeterName
    base_unit: str  # what rated charges count
    unit: str  # what invoice lines show
    base_per_unit: int  # invoice quantity = base quantity / base_per_unit


METERS: dict[MeterName, Meter] = {
    MeterName.GPU_HOURS: Meter(MeterName.GPU_HOURS, "GPU-second", "GPU-hour", 3600),
    MeterName.ENERGY_KWH: Meter(MeterName.ENERGY_KWH, "J", "kWh", 3_600_000),
    MeterName.TOKENS_1K: Meter(MeterName.TOKENS_1K, "token", "1k tokens", 1000),
    MeterName.REQUESTS: Meter(MeterName.REQUESTS, "request", "requests", 1),
}

# Order of lines within a project on an invoice.
METER_ORDER: dict[MeterName, int] = {name: index for index, name in enumerate(METERS)}

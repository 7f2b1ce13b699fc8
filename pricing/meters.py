"""The meters usage is billed by, each counted in a base unit and invoiced in a larger one, and the GPU
models that gpu_hours is priced per."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pricing.errors import Problem

MAX_GPU_MODEL_LENGTH = 64


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


def gpu_model_problems(field: str, models: Iterable[str]) -> list[Problem]:
    """GPU model names (keys of a price list or a quota): 1 to 64 characters, not only blanks."""
    return [
        Problem(
            f"{field}.{model}", f"{model!r} is not a GPU model name of 1 to {MAX_GPU_MODEL_LENGTH} characters"
        )
        for model in models
        if not model.strip() or len(model) > MAX_GPU_MODEL_LENGTH
    ]

"""Usage meters: the readings the rollups aggregate, taken from allocation intervals and usage records.

Rules (the rollup tests and the pipeline benchmark recompute them):

1. gpu_seconds (GPU-second, per GPU model): a released allocation's billable GPU-seconds, the very figure
   its invoice line bills (rating.billable_share_seconds: a started second counts, times gpu_count,
   times the share of each GPU, so a half-GPU allocation of 10 s reads 5 GPU-seconds, exactly).
   An agent's sample of a GPU no allocation held (tenant "_fleet") reads its window's seconds: the
   fleet's idle GPU-seconds, which with the allocations' make the capacity that chargeback prices.
2. gpu_util_seconds (GPU-second, per GPU model): utilization% x window seconds / 100 of each agent sample,
   the GPU-seconds actually busy (efficiency showback).
3. gpu_utilization (%, per GPU model): each sample's utilization, for max, latest and mean (sum / count).
4. energy_j (J, per GPU model): the sample's energy since the previous sample (the agent turns a counter
   that went backwards into a reset, never into negative energy; the contract refuses negatives).
5. requests, input_tokens, output_tokens: from external (inference) usage.
6. A reading is placed at its billing moment: released_at for an allocation, window_end for a record,
   the instant that decides its invoice period, so a month of rollups adds up to the month's invoice
   (but for usage that arrives after its month was finalized, billed on the next open invoice). So a
   long allocation's GPU-seconds show in the window of its release; the agents' samples (busy seconds,
   energy) show the time profile as it happened.
7. A sample of a GPU that fractional allocations shared comes as one record per holder (ingest splits it
   by share, the rest idle, energy included): its window-based readings (the busy and the idle
   GPU-seconds) count its gpu_share of the window; utilization stays the GPU's own.
8. Additive readings of zero are left out (they would change only the count); utilization is kept even
   at 0%, since an idle GPU is what showback must show.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from services.metering.invoicing.domain.rating import FLEET_TENANT, AllocationInterval, billable_share_seconds
from shared.events.ingest import UsageRecorded

_HUNDRED = Decimal(100)
_ZERO = Decimal(0)
_MICROSECOND = timedelta(microseconds=1)


class UsageMeter(StrEnum):
    GPU_SECONDS = "gpu_seconds"
    GPU_UTIL_SECONDS = "gpu_util_seconds"
    GPU_UTILIZATION = "gpu_utilization"
    ENERGY_J = "energy_j"
    REQUESTS = "requests"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"


METER_UNITS: dict[UsageMeter, str] = {
    UsageMeter.GPU_SECONDS: "GPU-second",
    UsageMeter.GPU_UTIL_SECONDS: "GPU-second",
    UsageMeter.GPU_UTILIZATION: "%",
    UsageMeter.ENERGY_J: "J",
    UsageMeter.REQUESTS: "request",
    UsageMeter.INPUT_TOKENS: "token",
    UsageMeter.OUTPUT_TOKENS: "token",
}


class Reading(NamedTuple):
    """One quantity of one meter at one instant, for one tenant's project (and GPU model, "" for none)."""

    tenant_id: str
    project_id: str
    meter: UsageMeter
    gpu_model: str
    value: Decimal
    at: datetime


def allocation_readings(interval: AllocationInterval) -> list[Reading]:
    seconds = billable_share_seconds(interval)
    if seconds == 0:
        return []
    return [
        Reading(
            interval.tenant_id,
            interval.project_id,
            UsageMeter.GPU_SECONDS,
            interval.gpu_model,
            seconds,
            interval.released_at,
        )
    ]


def record_readings(record: UsageRecorded, percent_of: dict[float, Decimal] | None = None) -> list[Reading]:
    """The record's readings. `percent_of` caches utilization floats as Decimals across one batch
    (samples repeat the same few hundred values; the conversion is the costly part)."""
    tenant, project, at = record.tenant_id, record.project_id, record.window_end
    model = record.gpu_model or ""
    readings: list[Reading] = []
    pct = record.gpu_utilization_pct
    if pct is not None:
        utilization = percent_of.get(pct) if percent_of is not None else None
        if utilization is None:
            # Through str, so a float such as 33.3 counts as 33.3 and sums stay exact and order-independent.
            utilization = Decimal(str(pct))
            if percent_of is not None:
                percent_of[pct] = utilization
        readings.append(Reading(tenant, project, UsageMeter.GPU_UTILIZATION, model, utilization, at))
        if utilization:
            busy = utilization * _share_seconds(record) / _HUNDRED
            if busy:
                readings.append(Reading(tenant, project, UsageMeter.GPU_UTIL_SECONDS, model, busy, at))
    if tenant == FLEET_TENANT and model and record.window_end > record.window_start:
        idle = _share_seconds(record)
        readings.append(Reading(tenant, project, UsageMeter.GPU_SECONDS, model, idle, at))
    if record.energy_j > _ZERO:
        readings.append(Reading(tenant, project, UsageMeter.ENERGY_J, model, record.energy_j, at))
    if record.requests:
        readings.append(Reading(tenant, project, UsageMeter.REQUESTS, model, Decimal(record.requests), at))
    if record.input_tokens:
        readings.append(
            Reading(tenant, project, UsageMeter.INPUT_TOKENS, model, Decimal(record.input_tokens), at)
        )
    if record.output_tokens:
        readings.append(
            Reading(tenant, project, UsageMeter.OUTPUT_TOKENS, model, Decimal(record.output_tokens), at)
        )
    return readings


def _share_seconds(record: UsageRecorded) -> Decimal:
    """The record's window in seconds of its share of the GPU (all of it but for a shared GPU)."""
    seconds = _seconds(record.window_end - record.window_start)
    return seconds if record.gpu_share == 1 else seconds * record.gpu_share


def _seconds(duration: timedelta) -> Decimal:
    """A timedelta in seconds, exact to the microsecond."""
    if not duration.microseconds and not duration.days:
        return Decimal(duration.seconds)
    return Decimal(duration // _MICROSECOND).scaleb(-6)

"""Helpers for the benchmarks: a quiet factory for load runs, services as OS processes, CPU accounting,
the simulated fleet's events rendered as the bytes producers put on the wire."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

from shared.events.agent import UsageSampled
from shared.events.ingest import UsageRecorded
from shared.infra.launcher import FactoryConfig, pick_ports

MODELS = ("H100", "A100")
GPUS_PER_NODE = 8
Payload = tuple[str, bytes, dict[str, str]]  # subject, body, headers


class ServiceProcess:
    """One service as an OS process (python -m services.<name>.main), its output in a log file."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name, self._env, self._log_path = name, env, log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        with open(self._log_path, "ab") as log:
            command = [sys.executable, "-m", f"services.{self.name}.main"]
            self.process = subprocess.Popen(command, env=self._env, stdout=log, stderr=subprocess.STDOUT)
        return time.perf_counter()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)

    def psutil(self) -> psutil.Process:
        assert self.process is not None
        return psutil.Process(self.process.pid)


class CpuMeter:
    """CPU seconds (user + system) that some processes and their children spent since the last lap:
    what the work cost, however busy the machine was with other things."""

    def __init__(self, *processes: psutil.Process) -> None:
        self._processes = processes
        self._marked = self._total()

    def _total(self) -> float:
        total = 0.0
        for process in self._processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                for each in (process, *process.children(recursive=True)):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        times = each.cpu_times()
                        total += times.user + times.system
        return total

    def lap(self) -> float:
        now = self._total()
        spent, self._marked = now - self._marked, now
        return spent


def load_run_config(data_dir: Path, agents: int, gpus_per_agent: int, **extra: Any) -> FactoryConfig:
    """An embedded factory on free ports that stays quiet under load: heartbeats every 2 s, samples a
    minute apart, no node declared lost for a minute, warnings only in the logs."""
    config = FactoryConfig(
        data_dir=data_dir,
        agents=agents,
        gpus_per_agent=gpus_per_agent,
        heartbeat_s=2.0,
        sample_s=60.0,
        node_lost_after_s=60.0,
        log_level="WARNING",
        **extra,
    )
    return pick_ports(config)


def postmaster(data_dir: Path) -> psutil.Process:
    for process in psutil.process_iter(["name", "cmdline"]):
        if str(data_dir) in " ".join(process.info["cmdline"] or []) and "postgres" in (
            process.info["name"] or ""
        ):
            return process
    raise LookupError(f"no PostgreSQL server on {data_dir}")


@dataclass
class Fleet:
    """GPUs in nodes of 8, alternately H100 and A100; each node held by one of the tenants' projects."""

    gpus: int
    tenants: int

    def node(self, gpu: int) -> str:
        return f"node-{gpu // GPUS_PER_NODE:04d}"

    def gpu_uuid(self, gpu: int) -> str:
        return f"GPU-{gpu:05d}"

    def model(self, gpu: int) -> str:
        return MODELS[(gpu // GPUS_PER_NODE) % 2]

    def holder(self, node: int) -> tuple[str, str]:
        """(tenant, project) whose allocation holds the node's GPUs."""
        index = (node * 7919) % (self.tenants * 3)
        return f"bench-{index // 3:04d}", f"p{index % 3}"

    @property
    def nodes(self) -> int:
        return -(-self.gpus // GPUS_PER_NODE)


@dataclass
class Published:
    events: int = 0
    energy_j: Decimal = Decimal(0)
    utilization_sum: Decimal = Decimal(0)


def _headers(event_id: str, ce_type: str, source: str, at: datetime) -> dict[str, str]:
    return {
        "Nats-Msg-Id": event_id,
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": source,
        "ce-type": ce_type,
        "ce-time": at.isoformat(),
        "content-type": "application/json",
    }


def fleet_samples(
    fleet: Fleet, count: int, sample_s: float, end: datetime, seed: int, *, recorded: bool
) -> tuple[list[Payload], Published]:
    """`count` samples of the fleet in time order (every GPU every sample_s), the last ones at `end`.

    recorded=False: agent.v1.<node>.usage.sampled, as the agents publish them (ingest's input);
    recorded=True: ingest.v1.usage.recorded, as ingest emits them (metering's input, ingest bypassed).
    Bodies are rendered from a template of the contract's JSON (pydantic would take longer than the
    run); the first two are checked against the contract."""
    rng = random.Random(seed)
    published = Published(events=count)
    payloads: list[Payload] = []
    ticks = -(-count // fleet.gpus)
    start = end - timedelta(seconds=(ticks - 1) * sample_s)
    for index in range(count):
        gpu, tick = index % fleet.gpus, index // fleet.gpus
        at = start + timedelta(seconds=tick * sample_s)
        event_id = str(uuid.uuid4())
        energy = Decimal(rng.randint(1_000, 60_000)) / 10
        utilization = Decimal(rng.randint(0, 1000)) / 10
        published.energy_j += energy
        published.utilization_sum += utilization
        node, gpu_uuid, model = fleet.node(gpu), fleet.gpu_uuid(gpu), fleet.model(gpu)
        if recorded:
            tenant, project = fleet.holder(gpu // GPUS_PER_NODE)
            body = (
                f'{{"event_id":"{event_id}","occurred_at":"{at.isoformat()}","tenant_id":"{tenant}",'
                f'"project_id":"{project}","source":"agent","source_event_id":"{event_id}",'
                f'"window_start":"{(at - timedelta(seconds=sample_s)).isoformat()}","window_end":"{at.isoformat()}",'
                f'"node_id":"{node}","gpu_uuid":"{gpu_uuid}","gpu_model":"{model}",'
                f'"gpu_utilization_pct":{utilization},"memory_used_mib":{rng.randint(0, 80_000)},'
                f'"energy_j":"{energy}"}}'
            )
            headers = _headers(event_id, UsageRecorded.TYPE, "/aifactory/ingest", at)
            payloads.append((UsageRecorded.SUBJECT, body.encode(), headers))
        else:
            body = (
                f'{{"event_id":"{event_id}","occurred_at":"{at.isoformat()}","node_id":"{node}",'
                f'"gpu_uuid":"{gpu_uuid}","gpu_model":"{model}","window_s":{sample_s},'
                f'"utilization_pct":{utilization},"memory_used_mib":{rng.randint(0, 80_000)},'
                f'"power_w":{float(energy) / sample_s},"energy_j":{energy}}}'
            )
            headers = _headers(event_id, UsageSampled.TYPE, "/aifactory/agent", at)
            payloads.append((f"agent.v1.{node}.usage.sampled", body.encode(), headers))
    contract = UsageRecorded if recorded else UsageSampled
    for _, body, _ in payloads[:2]:
        contract.model_validate_json(body)
    return payloads, published

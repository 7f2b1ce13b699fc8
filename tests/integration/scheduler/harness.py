"""Drive the real scheduler through JetStream: publish gateway and agent events, watch what it publishes."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.scheduler.main import SchedulerHost, create_service
from services.scheduler.settings import SchedulerSettings
from shared.events import ALL_EVENTS
from shared.events.agent import (
    GpuInfo,
    Heartbeat,
    NodeRegistered,
    RunningWorkload,
    WorkloadExited,
    WorkloadStarted,
)
from shared.events.base import Event
from shared.events.gateway import JobCancelRequested, JobSubmitted, QuotaSet
from shared.events.jobs import JobSpec
from shared.events.scheduler import AllocationBound, JobStateChanged
from shared.messaging.streams import AGENT, GATEWAY, SCHEDULER, ensure_streams

E = TypeVar("E", bound=Event)

DURABLES = (
    "scheduler-jobs",
    "scheduler-quotas",
    "scheduler-registrations",
    "scheduler-heartbeats",
    "scheduler-workloads",
)
TENANT = "ten_a"
PROJECT = "prj_a"


def now() -> datetime:
    return datetime.now(UTC)


async def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


class Bus:
    """A NATS connection that publishes events like the gateway and agents, and records the scheduler's."""

    def __init__(self, nc: Client, js: JetStreamContext) -> None:
        self.nc, self.js = nc, js
        self.seen: list[Event] = []

    async def listen(self) -> None:
        for subject in ("scheduler.>", "agent.v1.*.cmd.*"):
            await self.nc.subscribe(subject, cb=self._record)

    async def _record(self, msg: Msg) -> None:
        event_type = ALL_EVENTS.get((msg.headers or {}).get("ce-type", ""))
        if event_type is not None:
            self.seen.append(event_type.model_validate_json(msg.data))

    async def publish(self, event: Event) -> Event:
        await self.js.publish(event.subject(), event.model_dump_json().encode(), headers=event.headers())
        return event

    def events(self, event_type: type[E], **fields: Any) -> list[E]:
        return [
            e
            for e in self.seen
            if isinstance(e, event_type) and all(getattr(e, k) == v for k, v in fields.items())
        ]

    async def wait_for(self, event_type: type[E], timeout: float = 10.0, **fields: Any) -> E:
        found = await eventually(
            lambda: self.events(event_type, **fields), timeout, f"{event_type.__name__} {fields}"
        )
        return found[0]  # type: ignore[no-any-return]

    # The gateway's side.

    async def submit(self, job_id: str, *, replicas: int = 1, gpus: int = 1, **spec: Any) -> JobSubmitted:
        job_spec = JobSpec(
            **{
                "name": job_id,
                "replicas": replicas,
                "gpus_per_replica": gpus,
                "command": ["train.py"],
                **spec,
            }
        )
        event = JobSubmitted(
            occurred_at=now(), tenant_id=TENANT, project_id=PROJECT, job_id=job_id, spec=job_spec
        )
        await self.publish(event)
        return event

    async def cancel(self, job_id: str, tenant_id: str = TENANT) -> None:
        await self.publish(JobCancelRequested(occurred_at=now(), tenant_id=tenant_id, job_id=job_id))

    # An agent's side.

    async def set_quota(self, gpu_model: str, gpus: int) -> None:
        await self.publish(
            QuotaSet(occurred_at=now(), tenant_id=TENANT, project_id=PROJECT, gpu_model=gpu_model, gpus=gpus)
        )

    async def register(
        self,
        node_id: str,
        gpus: int = 4,
        model: str = "A100",
        running: list[RunningWorkload] | None = None,
        at: datetime | None = None,
        labels: dict[str, str] | None = None,
    ) -> NodeRegistered:
        infos = [
            GpuInfo(uuid=f"GPU-{node_id}-{i}", index=i, model=model, memory_mib=81920) for i in range(gpus)
        ]
        event = NodeRegistered(
            occurred_at=at or now(),
            node_id=node_id,
            hostname=node_id,
            backend="simulated",
            gpus=infos,
            running=running or [],
            labels=labels or {},
        )
        await self.publish(event)
        return event

    async def heartbeat(self, node_id: str) -> None:
        await self.publish(Heartbeat(occurred_at=now(), node_id=node_id))

    async def started(self, bound: AllocationBound) -> WorkloadStarted:
        event = WorkloadStarted(
            occurred_at=now(),
            node_id=bound.node_id,
            job_id=bound.job_id,
            allocation_id=bound.allocation_id,
            replica=bound.replica,
            pid=4242,
            epoch=bound.epoch,
        )
        await self.publish(event)
        return event

    async def exited(
        self,
        bound: AllocationBound,
        code: int = 0,
        *,
        stopped: bool = False,
        refused: bool = False,
        at: datetime | None = None,  # the agent's clock: now unless given
    ) -> WorkloadExited:
        event = WorkloadExited(
            occurred_at=at or now(),
            node_id=bound.node_id,
            job_id=bound.job_id,
            allocation_id=bound.allocation_id,
            replica=bound.replica,
            exit_code=code,
            stopped=stopped,
            refused=refused,
        )
        await self.publish(event)
        return event


def latest(bus: Bus, job_id: str) -> JobStateChanged:
    """The job's latest state as the scheduler published it."""
    return max(bus.events(JobStateChanged, job_id=job_id), key=lambda e: e.version)


async def open_bus(nats_url: str) -> Bus:
    """A bus on a clean slate: empty streams and no scheduler durables left by earlier tests."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    for stream in (GATEWAY, AGENT, SCHEDULER):
        await js.purge_stream(stream.name)
    for durable in DURABLES:
        stream = GATEWAY if durable in ("scheduler-jobs", "scheduler-quotas") else AGENT
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream.name, durable)
    bus = Bus(nc, js)
    await bus.listen()
    return bus


class Schedulers:
    """Starts scheduler instances on one database; stops whatever is still running at the end."""

    def __init__(self, nats_url: str, database_url: str) -> None:
        self._base = {"nats_url": nats_url, "database_url": database_url}
        self.running: list[SchedulerHost] = []

    async def start(self, **settings: Any) -> SchedulerHost:
        values = {
            "lease_ttl_s": 1.5,
            "cycle_interval_s": 0.2,
            "outbox_poll_s": 0.1,
            "instance_id": f"test-{uuid.uuid4().hex[:6]}",
            **self._base,
            **settings,
        }
        host = create_service(SchedulerSettings(**values))
        await host.start()
        self.running.append(host)
        return host

    async def stop(self, host: SchedulerHost) -> None:
        self.running.remove(host)
        await host.stop()

    async def stop_all(self) -> None:
        for host in list(self.running):
            await self.stop(host)


async def leader_epoch(host: SchedulerHost) -> int:
    epoch: int = await eventually(lambda: host.leadership and host.leadership.epoch, what="leadership")
    return epoch

"""A node agent on the real nats-server, the events it publishes, and a way to send it commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg

from services.agent.adapters.state_file import JsonStateFile
from services.agent.gpu.backend import GpuBackendUnavailable
from services.agent.gpu.nvml import NvmlBackend
from services.agent.gpu.simulated import SimulatedBackend
from services.agent.main import create_service
from services.agent.settings import AgentSettings
from shared.events import agent as agent_events
from shared.events.agent import GpuInfo
from shared.events.base import Event, event_registry
from shared.events.jobs import JobKind
from shared.events.scheduler import StartWorkload, StopWorkload
from shared.service import ServiceHost

E = TypeVar("E", bound=Event)
AGENT_EVENTS = event_registry(agent_events)
# Deadlines, not waits: generous so a loaded CI machine does not fail a correct agent.
WAIT_S = 20.0


async def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class EventTap:
    """Every agent event published for one node, in arrival order."""

    node_id: str
    events: list[Event] = field(default_factory=list)

    async def on_message(self, message: Msg) -> None:
        event_type = AGENT_EVENTS.get((message.headers or {}).get("ce-type", ""))
        if event_type is not None:
            self.events.append(event_type.model_validate_json(message.data))

    def of(self, event_type: type[E], **fields: Any) -> list[E]:
        return [
            event
            for event in self.events
            if isinstance(event, event_type) and all(getattr(event, k) == v for k, v in fields.items())
        ]

    async def wait_for(
        self, event_type: type[E], count: int = 1, timeout: float = WAIT_S, **fields: Any
    ) -> list[E]:
        await wait_until(
            lambda: len(self.of(event_type, **fields)) >= count,
            timeout,
            f"{count} {event_type.__name__} {fields}",
        )
        return self.of(event_type, **fields)


@dataclass
class Node:
    node_id: str
    state_dir: Path
    tap: EventTap
    nc: Client
    epoch: int = 1
    backend: SimulatedBackend | None = None
    host: ServiceHost | None = None

    @property
    def gpu_uuids(self) -> list[str]:
        return [f"GPU-sim-{self.node_id}-{index}" for index in range(2)]

    async def send(self, command: Event) -> None:
        await self.nc.jetstream().publish(
            command.subject(), command.model_dump_json().encode(), headers=command.headers()
        )

    def start_command(
        self, command: list[str], *, kind: JobKind = JobKind.TRAINING, **overrides: Any
    ) -> StartWorkload:
        allocation = f"alloc-{uuid.uuid4().hex[:8]}"
        fields: dict[str, Any] = {
            "occurred_at": datetime.now(UTC),
            "node_id": self.node_id,
            "epoch": self.epoch,
            "tenant_id": "tenant-a",
            "project_id": "project-a",
            "job_id": f"job-{allocation}",
            "allocation_id": allocation,
            "replica": 0,
            "kind": kind,
            "command": command,
            "env": {"GREETING": "hello"},
            "gpu_uuids": self.gpu_uuids[:1],
        }
        return StartWorkload(**(fields | overrides))

    def stop_command(self, start: StartWorkload, grace_s: float = 5.0, **overrides: Any) -> StopWorkload:
        fields: dict[str, Any] = {
            "occurred_at": datetime.now(UTC),
            "node_id": self.node_id,
            "epoch": self.epoch,
            "job_id": start.job_id,
            "allocation_id": start.allocation_id,
            "reason": "cancelled",
            "grace_s": grace_s,
        }
        return StopWorkload(**(fields | overrides))

    def log_of(self, start: StartWorkload) -> str:
        return (self.state_dir / "logs" / f"{start.job_id}-{start.replica}.log").read_text()

    def settings(self, nats_url: str, **overrides: Any) -> AgentSettings:
        values: dict[str, Any] = {
            "nats_url": nats_url,
            "agent_node_id": self.node_id,
            "agent_backend": "simulated",
            "agent_gpus": 2,
            "agent_state_dir": self.state_dir,
            "agent_labels": {"rack": "r1"},
            "agent_heartbeat_s": 0.2,
            "agent_sample_s": 0.3,
            "agent_poll_s": 0.05,
            "agent_restart_backoff_s": 0.2,
        }
        return AgentSettings(**(values | overrides))


REPO_ROOT = Path(__file__).resolve().parents[3]


def spawn_agent_process(
    node_id: str,
    state_dir: Path,
    nats_url: str,
    *,
    gpus: int = 2,
    labels: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """The agent as its own process (python -m services.agent.main), to be killed as an operator would;
    its output goes to <node>-agent.log beside the state directory. Its workloads run sandboxed (the
    default) and share that directory (the test's): they read and write their records there, but never
    see the state directory inside it."""
    command = [
        sys.executable, "-m", "services.agent.main", "--node-id", node_id, "--backend", "simulated",
        "--gpus", str(gpus), "--state-dir", str(state_dir), "--heartbeat-s", "0.2", "--sample-s", "0.5",
        "--sandbox-read-write", str(share_with_workloads(state_dir.parent)),
    ]  # fmt: skip
    for label in labels:
        command += ["--label", label]
    env = os.environ | {"AIFACTORY_NATS_URL": nats_url, "AIFACTORY_AGENT_POLL_S": "0.05"} | dict(env or {})
    log = open(state_dir.parent / f"{node_id}-agent.log", "ab")  # noqa: SIM115 - the child's
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def share_with_workloads(directory: Path) -> Path:
    """Sandboxed workloads run as UIDs of their own: like /tmp, anyone may create files here."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o1777)
    return directory


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def kill_leftover_workloads(state_dir: Path) -> None:
    """Workloads outlive their agent by design; the tests' must not outlive the tests."""
    if not state_dir.exists():
        return
    for record in JsonStateFile(state_dir).load().workloads.values():
        if record.pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGKILL)


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
async def new_node(nats_client: Client, tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[Node]]]:
    """A node name of its own per call, with its events tapped before anything is published."""
    nodes: list[Node] = []

    async def make() -> Node:
        node = Node(f"n{uuid.uuid4().hex[:8]}", tmp_path / f"node{len(nodes)}", EventTap(""), nats_client)
        node.tap.node_id = node.node_id
        await nats_client.subscribe(f"agent.v1.{node.node_id}.>", cb=node.tap.on_message)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        if node.host is not None:
            await node.host.stop()
        kill_leftover_workloads(node.state_dir)


@pytest.fixture
async def node(new_node: Callable[[], Awaitable[Node]], nats_url: str) -> Node:
    """A running in-process agent with two simulated GPUs."""
    node = await new_node()
    await start_in_process(node, nats_url)
    return node


async def start_in_process(node: Node, nats_url: str, **overrides: Any) -> None:
    settings = node.settings(nats_url, **overrides)
    node.backend = SimulatedBackend(2, "A100", 0, node_id=node.node_id)
    node.host = create_service(settings, backend=node.backend)
    await node.host.start()
    await node.tap.wait_for(agent_events.NodeRegistered)


# The node's real GPUs, for the tests marked `gpu` (skipped where NVML finds none).
@pytest.fixture(scope="module")
def nvml() -> Iterator[NvmlBackend]:
    try:
        backend = NvmlBackend()
    except GpuBackendUnavailable as error:
        pytest.skip(f"no NVIDIA GPU: {error}")
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def gpus(nvml: NvmlBackend) -> list[GpuInfo]:
    found = nvml.discover()
    if not found:
        pytest.skip("no NVIDIA GPU: NVML started but reports no device")
    return found

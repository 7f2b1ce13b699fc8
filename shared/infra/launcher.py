"""The embedded factory behind `aifactory up`, `aifactory demo` and the end-to-end tests.

It starts nats-server (JetStream) and PostgreSQL under the data directory unless AIFACTORY_NATS_URL /
AIFACTORY_DATABASE_URL name existing ones, then every service as its own process, then simulated node
agents. stop() ends them in reverse order and kills any workload an agent left, so nothing stays behind;
a launcher killed outright takes them with it (each child dies with its parent: shared/infra/parent_death.py).
With `first_start_defaults` (what `aifactory up` asks), a factory whose embedded database is new gets a
default tenant, project, quota and price book (shared/infra/first_start.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from shared.client.gateway import GatewayClient
from shared.infra.embedded import EmbeddedNats, EmbeddedPostgres, env_url, free_port
from shared.infra.first_start import (
    DEFAULTS_FILE,
    create_defaults,
    load_defaults,
    save_defaults,
    wait_for_nodes,
    write_env_file,
)
from shared.infra.processes import ServiceProcess

Progress = Callable[[str], None]


@dataclass
class FactoryConfig:
    data_dir: Path = Path(".aifactory")
    agents: int = 2
    gpus_per_agent: int = 8
    gpu_model: str = "A100"
    gateway_port: int = 8000
    ingest_port: int = 8001
    metering_port: int = 8002  # metering's internal API, which the gateway reads
    heartbeat_s: float = 2.0
    sample_s: float = 5.0
    node_lost_after_s: float = 15.0
    log_level: str = "INFO"
    # Create the default tenant, project, quota and price book when the embedded database is new.
    first_start_defaults: bool = False
    # Agents' workloads end when their agent dies (what `aifactory up` asks); otherwise they outlive it, as
    # on a real node, where a restarted agent adopts them.
    workloads_die_with_agents: bool = False
    # Workloads run in the agents' sandbox (docs/workload-sandbox.md), starting in the directory the
    # factory was launched from (shared read-only: a job may name its files), with `share_dir` shared
    # read-write by all. Off: unconfined, as the agents' user (trusted workloads only).
    sandbox: bool = True
    # Copies of gateway, ingest and metering (the first on the ports above, the others on free ports) and
    # of the scheduler (one leads, the others stand by).
    replicas: int = 1
    schedulers: int = 1
    # Existing servers (default: AIFACTORY_NATS_URL / AIFACTORY_DATABASE_URL, else embedded ones). The NATS
    # URL may list a cluster's servers, comma-separated.
    nats_url: str = ""
    database_url: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)


SERVICES = ("scheduler", "metering", "ingest", "gateway")  # started in this order, stopped in reverse
SECRET_VARIABLES = frozenset(
    {
        "AIFACTORY_DATABASE_URL",
        "AIFACTORY_ADMIN_KEY",
        "AIFACTORY_ADMIN_KEY_FILE",  # the launcher hands the gateway the key itself
        "AIFACTORY_INGEST_TOKEN",
        "AIFACTORY_METERING_API_KEY",
    }
)
# AIFACTORY_METERING_API_KEY: the secret the gateway signs its reads of metering's internal API with.
SECRETS_NEEDED: dict[str, frozenset[str]] = {
    "scheduler": frozenset({"AIFACTORY_DATABASE_URL"}),
    "metering": frozenset({"AIFACTORY_DATABASE_URL", "AIFACTORY_METERING_API_KEY"}),
    "ingest": frozenset({"AIFACTORY_DATABASE_URL", "AIFACTORY_INGEST_TOKEN"}),
    "gateway": frozenset({"AIFACTORY_DATABASE_URL", "AIFACTORY_ADMIN_KEY", "AIFACTORY_METERING_API_KEY"}),
    "agent": frozenset(),
}


class Factory:
    def __init__(self, config: FactoryConfig, progress: Progress = lambda _msg: None) -> None:
        if config.replicas < 1 or config.schedulers < 1:
            raise ValueError("a factory runs at least one replica of each service")
        self.config = config
        self.progress = progress
        self.data_dir = config.data_dir.resolve()
        self.nats: EmbeddedNats | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.nats_url = ""
        self.database_url = ""
        self.admin_key = os.environ.get("AIFACTORY_ADMIN_KEY") or secrets.token_urlsafe(24)
        self.ingest_token = os.environ.get("AIFACTORY_INGEST_TOKEN") or secrets.token_urlsafe(24)
        # Generated once per factory: every gateway and metering replica holds the same.
        self.metering_api_key = os.environ.get("AIFACTORY_METERING_API_KEY") or secrets.token_urlsafe(32)
        self.services: dict[str, ServiceProcess] = {}  # "gateway", "gateway-2", ...
        self.agents: dict[str, ServiceProcess] = {}
        self.ports: dict[str, int] = {
            "gateway": config.gateway_port,
            "ingest": config.ingest_port,
            "metering": config.metering_port,
        }
        for name in ("gateway", "ingest", "metering"):
            for replica in range(2, config.replicas + 1):
                self.ports[f"{name}-{replica}"] = free_port()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.config.ingest_port}"

    @property
    def metering_url(self) -> str:
        return f"http://127.0.0.1:{self.config.metering_port}"

    def instances(self, service: str) -> list[str]:
        """The instance names of one service: "gateway", then "gateway-2", ..."""
        count = self.config.schedulers if service == "scheduler" else self.config.replicas
        return [service] + [f"{service}-{replica}" for replica in range(2, count + 1)]

    def urls(self, service: str) -> list[str]:
        """Every replica's HTTP URL (gateway, ingest or metering)."""
        return [f"http://127.0.0.1:{self.ports[name]}" for name in self.instances(service)]

    # 1. infrastructure, 2. services, 3. agents, 4. wait until the HTTP edges answer
    def start(self) -> Factory:
        try:
            self._start_infrastructure()
            for service in SERVICES:
                for name in self.instances(service):
                    self.start_service(name)
            for index in range(1, self.config.agents + 1):
                self.start_agent(f"node-{index}")
            for url in (*self.urls("gateway"), *self.urls("ingest")):
                self.wait_healthy(f"{url}/healthz")
            self._create_first_start_defaults()
        except BaseException:
            self.stop()
            raise
        self._write_connection_file()
        return self

    def stop(self) -> None:
        for name, agent in list(self.agents.items()):
            self.progress(f"stopping agent {name}")
            agent.stop()
        for service in reversed(SERVICES):
            for name in self.instances(service):
                if name in self.services:
                    self.progress(f"stopping {name}")
                    self.services[name].stop()
        if self.nats:
            self.progress("stopping nats-server")
            self.nats.stop()
        if self.postgres:
            self.progress("stopping PostgreSQL")
            self.postgres.stop()

    def _start_infrastructure(self) -> None:
        self.nats_url = self.config.nats_url or env_url("AIFACTORY_NATS_URL") or ""
        if not self.nats_url:
            self.progress("starting nats-server with JetStream")
            self.nats = EmbeddedNats(self.data_dir / "nats").start()
            self.nats_url = self.nats.url
        self.database_url = self.config.database_url or env_url("AIFACTORY_DATABASE_URL") or ""
        if not self.database_url:
            self.progress("starting PostgreSQL (pgserver)")
            self.postgres = EmbeddedPostgres(self.data_dir / "postgres").start()
            self.database_url = self.postgres.url

    def _create_first_start_defaults(self) -> None:
        """Only on the embedded database's first start: a later one finds them in defaults.env."""
        if not (self.postgres and self.postgres.created):
            return
        (self.data_dir / DEFAULTS_FILE).unlink(missing_ok=True)  # a removed database's defaults
        if not self.config.first_start_defaults:
            return
        self.progress("creating the default tenant, project, quota and example price book")
        client = GatewayClient(self.gateway_url, self.admin_key)
        try:
            wait_for_nodes(client, self.config.agents)  # the quota is on the GPUs they bring
            defaults = create_defaults(
                client,
                gpu_model=self.config.gpu_model,
                gpus=self.config.agents * self.config.gpus_per_agent,
            )
        finally:
            client.close()
        save_defaults(self.data_dir, defaults)

    def environment_of(self, service: str, **extra: str) -> dict[str, str]:
        """The environment of one process: only the secrets its service needs (least privilege: an agent,
        whose workloads are tenants' code, gets none), and none inherited from the launcher's own."""
        inherited = {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
        secrets_held = {
            "AIFACTORY_DATABASE_URL": self.database_url,
            "AIFACTORY_ADMIN_KEY": self.admin_key,
            "AIFACTORY_INGEST_TOKEN": self.ingest_token,
            "AIFACTORY_METERING_API_KEY": self.metering_api_key,
        }
        env = inherited | {
            "AIFACTORY_NATS_URL": self.nats_url,
            "AIFACTORY_LOG_LEVEL": self.config.log_level,
            "PYTHONUNBUFFERED": "1",
        }
        env |= {name: secrets_held[name] for name in SECRETS_NEEDED[service]}
        return env | self.config.extra_env | extra

    def start_service(self, name: str) -> None:
        """Start (or start again) one instance: "scheduler", "gateway-2", ..."""
        self.progress(f"starting {name}")
        service, _, _ = name.partition("-")
        env = self.environment_of(service)
        if name in self.ports:
            env["AIFACTORY_HTTP_PORT"] = str(self.ports[name])
        if service == "gateway":
            # Its own metering replica first; the others when that one does not answer.
            mine = self.instances("gateway").index(name) % self.config.replicas
            meterings = self.urls("metering")
            env["AIFACTORY_METERING_URL"] = ",".join(meterings[mine:] + meterings[:mine])
        elif service == "scheduler":
            env["AIFACTORY_NODE_LOST_AFTER_S"] = str(self.config.node_lost_after_s)
            env["AIFACTORY_INSTANCE_ID"] = name
        process = ServiceProcess(
            name,
            [sys.executable, "-m", f"services.{service}.main"],
            env,
            self.data_dir / "logs" / f"{name}.log",
        )
        process.start()
        self.services[name] = process

    @property
    def share_dir(self) -> Path:
        """A directory every workload may read and write (sticky, like /tmp): job outputs, test records."""
        return self.data_dir / "share"

    def _sandbox_env(self) -> dict[str, str]:
        if not self.config.sandbox:
            return {"AIFACTORY_AGENT_SANDBOX": "off"}
        self.share_dir.mkdir(parents=True, exist_ok=True)
        self.share_dir.chmod(0o1777)
        launched_from = Path.cwd().resolve()
        return {
            "AIFACTORY_AGENT_SANDBOX": "on",
            "AIFACTORY_AGENT_SANDBOX_READ_ONLY": json.dumps([str(launched_from)]),
            "AIFACTORY_AGENT_SANDBOX_READ_WRITE": json.dumps([str(self.share_dir)]),
            "AIFACTORY_AGENT_SANDBOX_START_IN": str(launched_from),
        }

    def start_agent(self, node_id: str) -> None:
        self.progress(f"starting simulated agent {node_id}")
        argv = [
            sys.executable, "-m", "services.agent.main",
            "--node-id", node_id,
            "--backend", "simulated",
            "--gpus", str(self.config.gpus_per_agent),
            "--gpu-model", self.config.gpu_model,
            "--state-dir", str(self.data_dir / "agents" / node_id),
        ]  # fmt: skip
        env = self.environment_of(
            "agent",
            AIFACTORY_AGENT_HEARTBEAT_S=str(self.config.heartbeat_s),
            AIFACTORY_AGENT_SAMPLE_S=str(self.config.sample_s),
            AIFACTORY_AGENT_WORKLOADS_DIE_WITH_AGENT=str(self.config.workloads_die_with_agents).lower(),
            **self._sandbox_env(),
        )
        agent = ServiceProcess(f"agent-{node_id}", argv, env, self.data_dir / "logs" / f"agent-{node_id}.log")
        agent.start()
        self.agents[node_id] = agent

    def crash_agent(self, node_id: str) -> None:
        """Simulate the loss of a node: the agent and every workload on it die at once."""
        agent = self.agents.pop(node_id)
        workloads = agent.descendants()
        agent.stop(kill=True)
        for proc in workloads:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()

    def wait_healthy(self, url: str, timeout_s: float = 60.0) -> None:
        self.progress(f"waiting for {url}")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for service in self.services.values():
                if not service.alive:
                    raise RuntimeError(f"{service.name} exited; see {service.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"nothing answered {url} within {timeout_s}s")

    def _write_connection_file(self) -> None:
        """What client commands need to reach this factory (read by `aifactory submit` and friends)."""
        entries = {
            "AIFACTORY_GATEWAY_URL": self.gateway_url,
            "AIFACTORY_API_KEY": self.admin_key,  # the operator's: client commands act with it
            "AIFACTORY_INGEST_URL": self.ingest_url,
            "AIFACTORY_INGEST_TOKEN": self.ingest_token,
            "AIFACTORY_NATS_URL": self.nats_url,
        }
        if self.postgres:  # the defaults live in the embedded database: AIFACTORY_TENANT, _PROJECT...
            entries |= load_defaults(self.data_dir)
        write_env_file(self.data_dir / "connection.env", entries)


def pick_ports(config: FactoryConfig) -> FactoryConfig:
    """Free ports for a factory that must not collide with another (tests, benchmarks)."""
    config.gateway_port = free_port()
    config.ingest_port = free_port()
    config.metering_port = free_port()
    return config

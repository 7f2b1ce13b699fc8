"""The faults a chaos run injects, drawn from its seed, and how each is done to the running factory: a
process SIGKILLed and started again after a while, a NATS server killed and restarted, PostgreSQL stopped
as by a crash (immediate mode, no checkpoint) and started again."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import nats

from services.scheduler.adapters.lease import LEASE_BUCKET, LEASE_KEY
from shared.infra.launcher import Factory
from shared.messaging.broker import nats_servers
from tests.support.nats_cluster import NatsCluster

TARGETS = ("gateway", "scheduler", "ingest", "metering", "agent", "nats-server", "postgresql")


@dataclass(frozen=True)
class Fault:
    target: str  # one of TARGETS
    after_s: float  # from the previous fault's recovery
    down_s: float  # how long the killed process stays dead


@dataclass
class Injected:
    fault: Fault
    victim: str  # the instance: "gateway-2", "scheduler (leader)", "node-3", "s2", ...
    at_s: float  # since the run started
    back_s: float


def draw_faults(rng: random.Random) -> list[Fault]:
    """Every target once, in an order and with timings of the seed's choosing."""
    order = list(TARGETS)
    rng.shuffle(order)
    return [Fault(target, rng.uniform(2.0, 5.0), rng.uniform(1.0, 3.0)) for target in order]


class FaultInjector:
    def __init__(self, factory: Factory, cluster: NatsCluster, rng: random.Random) -> None:
        self.factory = factory
        self.cluster = cluster
        self.rng = rng
        self.started = time.monotonic()
        self.done: list[Injected] = []

    def run(self, faults: list[Fault]) -> list[Injected]:
        for fault in faults:
            time.sleep(fault.after_s)
            at = time.monotonic() - self.started
            victim = self._inject(fault)
            self.done.append(Injected(fault, victim, at, time.monotonic() - self.started))
        return self.done

    def _inject(self, fault: Fault) -> str:
        if fault.target == "agent":
            node = self.rng.choice(sorted(self.factory.agents))
            # The agent only: its workloads run on, as on a real node, and the restarted agent adopts them.
            self.factory.agents.pop(node).stop(kill=True)
            time.sleep(fault.down_s)
            self.factory.start_agent(node)
            return node
        if fault.target == "nats-server":
            index = self.rng.randrange(len(self.cluster.servers))
            self.cluster.kill(index)
            time.sleep(fault.down_s)
            self.cluster.restart(index)
            return self.cluster.servers[index].name
        if fault.target == "postgresql":
            restart_postgres_after_crash(self.factory, fault.down_s)
            return "postgresql"
        if fault.target == "scheduler":
            victim = leader_instance(self.factory.nats_url)
            label = f"{victim} (leader)"
        else:
            victim = self.rng.choice(self.factory.instances(fault.target))
            label = victim
        self.factory.services[victim].stop(kill=True)
        time.sleep(fault.down_s)
        self.factory.start_service(victim)
        if victim in self.factory.ports:
            self.factory.wait_healthy(f"http://127.0.0.1:{self.factory.ports[victim]}/healthz")
        return label


def leader_instance(nats_url: str) -> str:
    """The scheduler instance holding the leader lease (its holder is the instance id)."""

    async def read() -> str:
        connection = await nats.connect(servers=nats_servers(nats_url))
        try:
            entry = await (await connection.jetstream().key_value(LEASE_BUCKET)).get(LEASE_KEY)
            return (entry.value or b"").decode()
        finally:
            await connection.close()

    return asyncio.run(read())


def restart_postgres_after_crash(factory: Factory, down_s: float) -> None:
    """Stop PostgreSQL in immediate mode (it recovers from its WAL at the next start, as after a crash)
    and start it again with the options it ran with (pg_ctl restart reads postmaster.opts)."""
    from pgserver._commands import pg_ctl

    server = factory.postgres._server if factory.postgres else None  # noqa: SLF001 - its system user
    if factory.postgres is None or server is None:
        raise RuntimeError("the chaos run restarts the embedded PostgreSQL: AIFACTORY_DATABASE_URL is set")
    data, user = factory.postgres.data_dir, server.system_user  # type: ignore[attr-defined]
    pg_ctl(["-w", "stop", "-m", "immediate"], pgdata=data, user=user)
    time.sleep(down_s)
    pg_ctl(["-w", "restart", "-l", str(data / "restart.log")], pgdata=data, user=user, timeout=60)

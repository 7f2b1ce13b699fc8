"""A three-server NATS cluster with JetStream (three nats-server processes on this machine), for tests that
lose a server while the factory runs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.errors import Error as NatsError

from shared.infra.embedded import free_port, nats_server_binary, wait_for_port
from shared.infra.parent_death import die_with_parent


@dataclass
class ClusterServer:
    name: str
    client_port: int
    route_port: int
    store_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"


@dataclass
class NatsCluster:
    directory: Path
    size: int = 3
    servers: list[ClusterServer] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Every server, comma-separated: what AIFACTORY_NATS_URL takes for a cluster."""
        return ",".join(server.url for server in self.servers)

    def start(self, timeout_s: float = 60.0) -> NatsCluster:
        self.servers = [
            ClusterServer(f"s{index}", free_port(), free_port(), self.directory / f"s{index}")
            for index in range(1, self.size + 1)
        ]
        for server in self.servers:
            self._launch(server)
        asyncio.run(self._wait_for_jetstream(timeout_s))
        return self

    def _launch(self, server: ClusterServer) -> None:
        server.store_dir.mkdir(parents=True, exist_ok=True)
        routes = ",".join(
            f"nats://127.0.0.1:{peer.route_port}" for peer in self.servers if peer is not server
        )
        log = open(self.directory / f"{server.name}.log", "ab")  # noqa: SIM115 - kept open for the child
        server.process = subprocess.Popen(
            [
                nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(server.client_port),
                "-sd", str(server.store_dir), "--server_name", server.name, "--cluster_name", "aifactory",
                "--cluster", f"nats://127.0.0.1:{server.route_port}", "--routes", routes,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )  # fmt: skip
        wait_for_port("127.0.0.1", server.client_port)

    async def _wait_for_jetstream(self, timeout_s: float) -> None:
        """Until the cluster has a JetStream meta leader: before it, stream creation fails."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                connection = await nats.connect(servers=[s.url for s in self.servers], connect_timeout=2)
                try:
                    await connection.jetstream().account_info()
                    return
                finally:
                    await connection.close()
            except (NatsError, OSError, TimeoutError) as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no JetStream leader after {timeout_s}s: {error!r}") from error
                await asyncio.sleep(0.5)

    def kill(self, index: int) -> None:
        """SIGKILL one server: its clients move to the others, its streams' peers elect new leaders."""
        process = self.servers[index].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, index: int) -> None:
        """The same server, ports and store again: it catches up with its peers."""
        self._launch(self.servers[index])

    def stop(self) -> None:
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.process.wait(10)
                    continue
                server.process.kill()
                server.process.wait()

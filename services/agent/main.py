"""The node agent: `python -m services.agent.main --node-id n1 --backend simulated --gpus 8`.

The app factory wires the pieces once the broker is connected; the agent has no database, so the
ServiceHost runs without a schema and the agent publishes straight to JetStream.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Callable

from services.agent.adapters.command_consumer import JetStreamCommandSource
from services.agent.adapters.publisher import JetStreamPublisher
from services.agent.adapters.state_file import JsonStateFile
from services.agent.app.agent import Intervals, NodeAgent, NodeDescription
from services.agent.app.commands import NodeCommands
from services.agent.app.sampler import UsageSampler
from services.agent.app.workloads import SupervisorSettings, WorkloadSupervisor
from services.agent.cli import parse_settings
from services.agent.gpu.backend import GpuBackend, GpuBackendUnavailable
from services.agent.gpu.factory import create_backend
from services.agent.runtime.processes import ProcessRuntime
from services.agent.runtime.sandbox_host import create_sandbox
from services.agent.settings import AgentSettings
from shared.messaging.streams import AGENT
from shared.service import ServiceHost, run_service

log = logging.getLogger(__name__)

SERVICE_NAME = "agent"


def build_agent(settings: AgentSettings, host: ServiceHost, backend: GpuBackend) -> NodeAgent:
    """The agent's object graph; needs the host started (its JetStream context)."""
    node_id = settings.agent_node_id
    state_dir = settings.state_dir
    store = JsonStateFile(state_dir)
    publisher = JetStreamPublisher(host.js)
    gpus = backend.discover()
    supervisor = WorkloadSupervisor(
        node_id,
        store.load(),
        store,
        ProcessRuntime(
            state_dir,
            clock=host.clock,
            die_with_agent=settings.agent_workloads_die_with_agent,
            sandbox=create_sandbox(settings, backend.device_nodes),
        ),
        publisher,
        host.clock,
        SupervisorSettings(
            restart_backoff_s=settings.agent_restart_backoff_s,
            restart_backoff_max_s=settings.agent_restart_backoff_max_s,
            max_stop_grace_s=settings.agent_stop_grace_s,
            poll_s=settings.agent_poll_s,
            finished_kept_s=AGENT.max_age_s,
        ),
        on_busy_changed=backend.set_busy,
    )
    log.info("node %s: state in %s, workload logs in %s", node_id, store.path, state_dir.resolve() / "logs")
    return NodeAgent(
        NodeDescription(
            node_id=node_id,
            hostname=socket.gethostname(),
            backend=backend.name,
            gpus=gpus,
            labels=dict(settings.agent_labels),
        ),
        supervisor,
        UsageSampler(node_id, gpus, backend, publisher, host.clock, running_on=supervisor.state.running_on),
        NodeCommands(node_id, supervisor, [gpu.uuid for gpu in gpus]),
        JetStreamCommandSource(host.js, node_id),
        publisher,
        host.clock,
        Intervals(heartbeat_s=settings.agent_heartbeat_s, sample_s=settings.agent_sample_s),
    )


def create_service(
    settings: AgentSettings,
    *,
    backend: GpuBackend | None = None,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> ServiceHost:
    """`backend` defaults to the one the settings choose (NVML failing to start raises
    GpuBackendUnavailable); `on_fatal` hears an error that ended the agent's main task."""
    host = ServiceHost(SERVICE_NAME, settings)
    gpus = backend or create_backend(settings)

    async def run_agent() -> None:
        try:
            await build_agent(settings, host, gpus).run()
        except Exception as error:
            log.critical("node agent %s stopped: %s", settings.agent_node_id, error, exc_info=True)
            if on_fatal is not None:
                on_fatal(error)
            raise

    async def release_gpus() -> None:
        gpus.close()

    host.add_background(run_agent)
    host.on_stop(release_gpus)
    return host


def main(argv: list[str] | None = None) -> int:
    settings = parse_settings(sys.argv[1:] if argv is None else argv)
    try:
        backend = create_backend(settings)
    except GpuBackendUnavailable as error:
        print(f"aifactory agent: {error}", file=sys.stderr)
        return 2
    failures: list[BaseException] = []

    def stop_on_fatal(error: BaseException) -> None:
        failures.append(error)
        signal.raise_signal(signal.SIGTERM)  # run_service then stops the host cleanly

    run_service(
        SERVICE_NAME, settings, lambda: create_service(settings, backend=backend, on_fatal=stop_on_fatal)
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Command-line flags of the node agent; each overrides its AIFACTORY_AGENT_* environment variable."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from services.agent.settings import AgentSettings


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"label {text!r} is not KEY=VALUE")
    return key, value


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.agent.main", description="aifactory node agent")
    parser.add_argument("--node-id", dest="agent_node_id", help="node name (default: short hostname)")
    parser.add_argument("--backend", dest="agent_backend", choices=["nvml", "simulated"], help="default nvml")
    parser.add_argument("--gpus", dest="agent_gpus", type=int, help="simulated GPU count (default 8)")
    parser.add_argument("--gpu-model", dest="agent_gpu_model", help="simulated GPU model (default A100)")
    parser.add_argument("--seed", dest="agent_seed", type=int, help="simulation seed (default 0)")
    parser.add_argument(
        "--state-dir", dest="agent_state_dir", type=Path, help="default .aifactory/agents/<node>"
    )
    parser.add_argument(
        "--label", dest="labels", type=_label, action="append", default=[], metavar="KEY=VALUE",
        help="node label, repeatable; added to AIFACTORY_AGENT_LABELS",
    )  # fmt: skip
    parser.add_argument("--heartbeat-s", dest="agent_heartbeat_s", type=float, help="default 2")
    parser.add_argument("--sample-s", dest="agent_sample_s", type=float, help="default 5")
    parser.add_argument(
        "--stop-grace-s", dest="agent_stop_grace_s", type=float, help="longest stop grace, default 60"
    )
    parser.add_argument(
        "--sandbox", dest="agent_sandbox", choices=["on", "off"],
        help="confine workloads with bubblewrap (default on; off: unconfined, trusted workloads only)",
    )  # fmt: skip
    parser.add_argument("--bwrap", dest="agent_sandbox_bwrap", help="bubblewrap binary (default bwrap)")
    parser.add_argument(
        "--workload-uids", dest="agent_workload_uid_range", metavar="FIRST-LAST",
        help="UIDs workloads run as when the agent is root (default 200000-299999)",
    )  # fmt: skip
    parser.add_argument(
        "--sandbox-read-only", dest="read_only", type=Path, action="append", default=[], metavar="PATH",
        help="host path workloads may read, repeatable; added to AIFACTORY_AGENT_SANDBOX_READ_ONLY",
    )  # fmt: skip
    parser.add_argument(
        "--sandbox-read-write", dest="read_write", type=Path, action="append", default=[], metavar="PATH",
        help="host path workloads may write, repeatable; added to AIFACTORY_AGENT_SANDBOX_READ_WRITE",
    )  # fmt: skip
    parser.add_argument(
        "--nats-url", dest="nats_url", help="default AIFACTORY_NATS_URL or nats://127.0.0.1:4222"
    )
    parser.add_argument("--log-level", dest="log_level", help="default INFO")
    return parser


def parse_settings(argv: list[str]) -> AgentSettings:
    arguments = vars(argument_parser().parse_args(argv))
    labels = dict(arguments.pop("labels"))
    read_only, read_write = arguments.pop("read_only"), arguments.pop("read_write")
    overrides: dict[str, Any] = {name: value for name, value in arguments.items() if value is not None}
    if labels or read_only or read_write:
        from_env = AgentSettings()
        if labels:
            overrides["agent_labels"] = {**from_env.agent_labels, **labels}
        if read_only:
            overrides["agent_sandbox_read_only"] = [*from_env.agent_sandbox_read_only, *read_only]
        if read_write:
            overrides["agent_sandbox_read_write"] = [*from_env.agent_sandbox_read_write, *read_write]
    return AgentSettings(**overrides)

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
        "--nats-url", dest="nats_url", help="default AIFACTORY_NATS_URL or nats://127.0.0.1:4222"
    )
    parser.add_argument("--log-level", dest="log_level", help="default INFO")
    return parser


def parse_settings(argv: list[str]) -> AgentSettings:
    arguments = vars(argument_parser().parse_args(argv))
    labels = dict(arguments.pop("labels"))
    overrides: dict[str, Any] = {name: value for name, value in arguments.items() if value is not None}
    if labels:
        overrides["agent_labels"] = {**AgentSettings().agent_labels, **labels}
    return AgentSettings(**overrides)

"""`aifactory wait`: follow jobs until they end, printing each change of state, for people and scripts
(the exit status says whether they all succeeded)."""

from __future__ import annotations

import time
from functools import partial
from typing import Annotated, Any

import typer

from services.cli.connection import ApiKey, GatewayUrl, call, console, fail
from shared.client.gateway import GatewayClient
from shared.events.jobs import TERMINAL_STATES, JobState

POLL_S = 0.5


def wait(
    job_ids: Annotated[
        list[str] | None, typer.Argument(help="Jobs to follow (default: every job not ended yet).")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds (exit 2).")] = 600.0,
    gateway: GatewayUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Wait until jobs end; exit 1 when one of them did not succeed."""
    followed = call(gateway, api_key, lambda client: _jobs(client, job_ids))
    if not followed:
        console.print("every job has ended")
        return
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        for job in followed:
            if seen.get(job["job_id"]) != job["state"]:
                seen[job["job_id"]] = job["state"]
                reason = f" ({job['reason']})" if job.get("reason") else ""
                console.print(f"{job['job_id']} {job['spec']['name']}: {job['state']}{reason}")
        if all(JobState(job["state"]) in TERMINAL_STATES for job in followed):
            break
        if time.monotonic() > deadline:
            console.print(f"[red]jobs still running after {timeout:g}s[/]")
            raise typer.Exit(2)
        time.sleep(POLL_S)
        followed = call(gateway, api_key, partial(_jobs, job_ids=[job["job_id"] for job in followed]))
    if any(job["state"] != JobState.SUCCEEDED for job in followed):
        fail("not every job succeeded")


def _jobs(client: GatewayClient, job_ids: list[str] | None) -> list[dict[str, Any]]:
    if job_ids:
        return [client.job(job_id) for job_id in job_ids]
    return [job for job in client.jobs() if JobState(job["state"]) not in TERMINAL_STATES]

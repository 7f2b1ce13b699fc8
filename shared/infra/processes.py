"""A factory process (service or agent) started in its own session, dying with its parent, and stopped
with its descendants."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from shared.infra.parent_death import die_with_parent


@dataclass
class ServiceProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # the child only calls prctl: safe beside threads
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def descendants(self) -> list[psutil.Process]:
        if not self.alive or self.process is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.process.pid).children(recursive=True)
        return []

    def stop(self, grace_s: float = 15.0, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL when `kill`), then SIGKILL what is left after the grace period."""
        if self.process is None:
            return
        orphans = self.descendants()
        if self.alive:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if kill:
            return  # a crashed node's workloads are the caller's to deal with
        for proc in orphans:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()

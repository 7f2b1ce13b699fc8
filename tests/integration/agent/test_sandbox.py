"""Zero trust between a node's workloads and its agent, with a real agent and real bubblewrap: a workload
reads none of the agent's secrets or state, and cannot see, read or signal another workload."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from services.agent.app.ports import EXIT_REJECTED
from shared.events.agent import NodeRegistered, WorkloadExited, WorkloadStarted
from shared.events.scheduler import StartWorkload
from tests.integration.agent.conftest import Node, python, spawn_agent_process, start_in_process, wait_until

STARTUP_S = 60.0
AS_ROOT = os.geteuid() == 0
SECRETS = {
    "AIFACTORY_ADMIN_KEY": "operator-key-s3cret-0123456789",
    "AIFACTORY_DATABASE_URL": "postgresql://postgres:db-s3cret-0123@127.0.0.1/aifactory",
    "AIFACTORY_INGEST_TOKEN": "ingest-token-s3cret-0123456789",
}
# Looks for the secrets (given reversed, so that its own command line does not hold them) in everything it
# can read: its environment, every /proc/<pid>/environ and cmdline it sees, every file outside the system
# directories; and tries the agent's /proc entry and state files.
SNOOP = r"""
import json, os, sys, time
agent_pid, state_dir = sys.argv[1], sys.argv[2]
secrets = [s[::-1].encode() for s in sys.argv[3:]]
found, report = [], {}
def look(path):
    try:
        with open(path, "rb") as handle:
            data = handle.read(1 << 20)
    except OSError as error:
        return type(error).__name__
    found.extend(path for secret in secrets if secret in data)
    return "read"
report["agent_environ"] = look(f"/proc/{agent_pid}/environ")
report["parent_environ"] = look(f"/proc/{os.getppid()}/environ")
report["state_file"] = look(os.path.join(state_dir, "agent-state.json"))
try:
    report["state_dir"] = os.listdir(state_dir)
except OSError as error:
    report["state_dir"] = type(error).__name__
for pid in (p for p in os.listdir("/proc") if p.isdigit()):
    look(f"/proc/{pid}/environ"), look(f"/proc/{pid}/cmdline")
skipped = ("/proc", "/sys", "/dev", "/usr", os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix))
deadline, report["walked"] = time.monotonic() + 20, True
for root, dirs, files in os.walk("/"):
    dirs[:] = [d for d in dirs if os.path.join(root, d) not in skipped]
    if time.monotonic() > deadline:  # a whole host's files: not in a sandbox
        report["walked"], dirs[:], files = False, [], []
    for name in files:
        look(os.path.join(root, name))
found += ["os.environ" for secret in secrets if secret in repr(dict(os.environ)).encode()]
report["env"], report["found"] = sorted(os.environ), found
print(json.dumps(report), flush=True)
"""


def report_of(node: Node, start: StartWorkload) -> dict:  # type: ignore[type-arg]
    line = next(line for line in node.log_of(start).splitlines() if line.startswith("{"))
    return json.loads(line)  # type: ignore[no-any-return]


@pytest.fixture
async def agent_with_secrets(
    new_node: Callable[[], Awaitable[Node]], nats_url: str
) -> AsyncIterator[tuple[Node, subprocess.Popen[bytes]]]:
    """An agent process started as a launcher starts one: with the platform's secrets in its environment."""
    node = await new_node()
    node.state_dir.mkdir(parents=True)
    agent = spawn_agent_process(node.node_id, node.state_dir, nats_url, env=SECRETS)
    try:
        await node.tap.wait_for(NodeRegistered, timeout=STARTUP_S)
        yield node, agent
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.to_thread(agent.wait), 10)
        finally:
            agent.kill()


async def test_a_workload_finds_no_secret_of_the_agent_anywhere_it_can_read(
    agent_with_secrets: tuple[Node, subprocess.Popen[bytes]],
) -> None:
    node, agent = agent_with_secrets
    reversed_secrets = [secret[::-1] for secret in SECRETS.values()]
    start = node.start_command(python(SNOOP) + [str(agent.pid), str(node.state_dir), *reversed_secrets])
    await node.send(start)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id, timeout=STARTUP_S))[
        0
    ]
    assert exited.exit_code == 0, node.log_of(start)
    seen = report_of(node, start)
    assert seen["found"] == []
    assert seen["walked"]  # every file it could read was looked at
    assert not set(SECRETS) & set(seen["env"])
    assert seen["agent_environ"] in ("FileNotFoundError", "PermissionError")  # no such process in its view
    # Its parent is bubblewrap's init (root's, as the agent is root here), never the agent.
    assert seen["parent_environ"] == "PermissionError" or not AS_ROOT
    assert seen["state_file"] in ("FileNotFoundError", "PermissionError")
    assert seen["state_dir"] in ([], "PermissionError")  # masked, though inside the shared directory


VICTIM = r"""
import json, os, time
open(f"/tmp/was-here-{os.environ['AIFACTORY_ALLOCATION_ID']}", "w").write("mine")
open(os.path.join(os.getcwd(), "victim-file"), "w").write(os.environ["VICTIM_SECRET"])
print("ready", json.dumps({"cwd": os.getcwd()}), flush=True)
time.sleep(120)
"""
# Tries, from another workload, everything a tenant's code could try against the victim.
ATTACK = r"""
import json, os, signal, sys
host_pids, host_workdir, state_dir, secret, victim = sys.argv[1].split(","), *sys.argv[2:4], sys.argv[4][::-1], sys.argv[5]
result = {}
def attempt(name, action):
    try:
        action()
        result[name] = "done"
    except OSError as error:
        result[name] = type(error).__name__
for pid in host_pids:
    attempt(f"kill {pid}", lambda: os.kill(int(pid), signal.SIGKILL))
    attempt(f"killpg {pid}", lambda: os.killpg(int(pid), signal.SIGKILL))
attempt("list the victim's workdir", lambda: os.listdir(host_workdir))
attempt("read the victim's file", lambda: open(os.path.join(host_workdir, "victim-file")).read())
attempt("read the victim's file here", lambda: open("victim-file").read())
attempt("read the state dir", lambda: os.listdir(state_dir))
# Every process it may signal but itself and its sandbox's init: there is none.
attempt("kill -1", lambda: os.kill(-1, signal.SIGKILL))
result["victim tmp"] = os.path.exists(f"/tmp/was-here-{victim}")
result["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
leaks = []
for pid in result["pids"]:
    for part in ("environ", "cmdline"):
        try:
            if secret.encode() in open(f"/proc/{pid}/{part}", "rb").read():
                leaks.append(f"{pid}/{part}")
        except OSError:
            pass
result["leaks"] = leaks
print(json.dumps(result), flush=True)
"""


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def exists(path: str) -> bool:
    return Path(path).exists()


@pytest.fixture
async def node_with_victim(node: Node) -> AsyncIterator[tuple[Node, StartWorkload, list[int]]]:
    victim = node.start_command(python(VICTIM), env={"VICTIM_SECRET": "victim-s3cret-0123456789"})
    await node.send(victim)
    wrapper_pid = (await node.tap.wait_for(WorkloadStarted, allocation_id=victim.allocation_id))[0].pid
    await wait_until(lambda: "ready" in node.log_of(victim), what="the victim ready")
    yield node, victim, [wrapper_pid, *descendants(wrapper_pid)]


@pytest.mark.parametrize("attacker_tenant", ["tenant-b", "tenant-a"])  # another tenant, and the victim's own
async def test_a_workload_cannot_see_read_or_signal_another_workload(
    node_with_victim: tuple[Node, StartWorkload, list[int]], attacker_tenant: str
) -> None:
    node, victim, victim_pids = node_with_victim
    [victim_workdir] = (node.state_dir / "work").glob(f"*/{victim.allocation_id}")
    arguments = [
        ",".join(map(str, victim_pids)),
        str(victim_workdir),
        str(node.state_dir),
        "victim-s3cret-0123456789"[::-1],
        victim.allocation_id,
    ]
    attacker = node.start_command(
        python(ATTACK) + arguments, tenant_id=attacker_tenant, gpu_uuids=node.gpu_uuids[1:]
    )
    await node.send(attacker)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=attacker.allocation_id))[0]
    assert exited.exit_code == 0, node.log_of(attacker)
    result = report_of(node, attacker)
    for pid in victim_pids:  # not in its view at all
        assert (result[f"kill {pid}"], result[f"killpg {pid}"]) == (
            "ProcessLookupError",
            "ProcessLookupError",
        )
    assert result["list the victim's workdir"] in ("FileNotFoundError", "PermissionError")
    assert result["read the victim's file"] in ("FileNotFoundError", "PermissionError")
    assert result["read the victim's file here"] == "FileNotFoundError"  # a working directory of its own
    assert result["read the state dir"] in ("FileNotFoundError", "PermissionError")
    assert result["kill -1"] == "ProcessLookupError"
    assert result["victim tmp"] is False  # each has its own /tmp
    assert result["pids"] == [1, 2] and result["leaks"] == []

    await asyncio.sleep(0.3)
    assert node.tap.of(WorkloadExited, allocation_id=victim.allocation_id) == []  # the victim runs on
    assert all(exists(f"/proc/{pid}") for pid in victim_pids)
    assert not exists(f"/tmp/was-here-{victim.allocation_id}")  # its /tmp was private, not the host's
    if AS_ROOT:
        owner = victim_workdir.stat()
        assert owner.st_uid >= 200000 and owner.st_mode & 0o777 == 0o700
        attacker_dirs = list((node.state_dir / "work").glob(f"*/{attacker.allocation_id}"))
        assert attacker_dirs == []  # removed once it ended

    await node.send(node.stop_command(victim))
    stopped = (await node.tap.wait_for(WorkloadExited, allocation_id=victim.allocation_id))[0]
    assert stopped.stopped and stopped.exit_code == 128 + 15
    assert not victim_workdir.exists()


@pytest.mark.skipif(not AS_ROOT, reason="UIDs are switched only by an agent running as root")
async def test_workloads_of_two_tenants_run_as_two_uids_neither_the_agents(node: Node) -> None:
    code = "import os; print('uid', os.getuid())"
    starts = [
        node.start_command(python(code), tenant_id="tenant-a"),
        node.start_command(python(code), tenant_id="tenant-b", gpu_uuids=node.gpu_uuids[1:]),
    ]
    for start in starts:
        await node.send(start)
    uids = []
    for start in starts:
        assert (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0].exit_code == 0
        uids.append(int(node.log_of(start).split("\nuid ")[1].split()[0]))
    assert uids[0] != uids[1] and os.geteuid() not in uids


async def test_a_node_whose_sandbox_cannot_start_refuses_starts_with_the_reason(
    new_node: Callable[[], Awaitable[Node]], nats_url: str, tmp_path: Path
) -> None:
    node = await new_node()
    await start_in_process(node, nats_url, agent_sandbox_bwrap=str(tmp_path / "no" / "bwrap"))
    start = node.start_command(python("print('ran')"))
    await node.send(start)

    exited = (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0]
    assert (exited.exit_code, exited.refused, exited.stopped) == (EXIT_REJECTED, True, False)
    assert node.tap.of(WorkloadStarted, allocation_id=start.allocation_id) == []
    log = node.log_of(start)
    assert "bubblewrap not found" in log and "AIFACTORY_AGENT_SANDBOX=off" in log and "ran" not in log


async def test_with_the_sandbox_off_a_workload_runs_unconfined_but_without_the_agents_environment(
    new_node: Callable[[], Awaitable[Node]], nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AGENT_ONLY", "agent's own")
    node = await new_node()
    await start_in_process(node, nats_url, agent_sandbox=False)
    start = node.start_command(python("import os, json; print(json.dumps(sorted(os.environ)))"))
    await node.send(start)

    assert (await node.tap.wait_for(WorkloadExited, allocation_id=start.allocation_id))[0].exit_code == 0
    seen = set(json.loads(next(line for line in node.log_of(start).splitlines() if line.startswith('["'))))
    assert not (set(SECRETS) | {"AGENT_ONLY"}) & seen
    assert {"PATH", "HOME", "LANG", "GREETING", "CUDA_VISIBLE_DEVICES"} <= seen
    assert "unsandboxed" in node.log_of(start)

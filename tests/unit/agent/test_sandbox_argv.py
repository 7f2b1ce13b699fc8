"""The sandbox's pure decisions: the bwrap command line, and which UID a workload runs as."""

from __future__ import annotations

import pytest

from services.agent.runtime.sandbox import (
    WORKDIR,
    Confinement,
    HostView,
    SandboxConfig,
    owner_key,
    pick_uid,
    sandbox_argv,
    uid_range,
)

VIEW = HostView(
    read_only=("/usr", "/etc", "/sys", "/opt/venv"),
    symlinks=(("/bin", "usr/bin"), ("/lib", "usr/lib")),
    hidden=("/var/lib/aifactory/agent",),
    hostname="gpu-07",
)
ROOT = SandboxConfig(bwrap="/usr/bin/bwrap", switch_user=True, view=VIEW)
WORKLOAD = Confinement(workdir="/var/lib/aifactory/agent/work/tenant-t1/a1", uid=200123)
COMMAND = ["python", "train.py", "--epochs", "3"]


def argv(
    config: SandboxConfig = ROOT, confinement: Confinement = WORKLOAD, command: list[str] = COMMAND
) -> list[str]:
    return sandbox_argv(config, confinement, command)


def pairs(arguments: list[str], option: str, count: int = 2) -> list[tuple[str, ...]]:
    """Each occurrence of `option` with the `count` arguments that follow it."""
    return [tuple(arguments[i + 1 : i + 1 + count]) for i, a in enumerate(arguments) if a == option]


def setup_part(arguments: list[str]) -> list[str]:
    return arguments[: arguments.index("--")]


def test_a_workload_gets_namespaces_of_its_own_but_the_hosts_network() -> None:
    setup = setup_part(argv())
    assert setup[0] == "/usr/bin/bwrap"
    for option in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"):
        assert option in setup
    assert pairs(setup, "--hostname", 1) == [("gpu-07",)]
    assert "--unshare-net" not in setup and "--unshare-all" not in setup
    # Its parent is the wrapper, which outlives an agent restart: the sandbox dies with it, not the agent.
    assert "--die-with-parent" in setup


def test_as_root_bwrap_keeps_only_what_setpriv_needs_and_setpriv_drops_to_the_workload_uid() -> None:
    arguments = argv()
    setup = setup_part(arguments)
    assert pairs(setup, "--cap-drop", 1) == [("ALL",)]
    assert [cap for (cap,) in pairs(setup, "--cap-add", 1)] == [
        "CAP_DAC_READ_SEARCH", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP",
    ]  # fmt: skip
    assert "--unshare-user" not in setup
    tail = arguments[arguments.index("--") + 1 :]
    assert tail == [
        "/usr/bin/env", "--default-signal", "/usr/bin/setpriv",
        "--reuid=200123", "--regid=200123", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
        "--", *COMMAND,
    ]  # fmt: skip


def test_without_root_bwrap_makes_a_user_namespace_and_nothing_is_switched() -> None:
    config = SandboxConfig(bwrap="bwrap", switch_user=False, view=VIEW)
    arguments = argv(config, Confinement(workdir="/home/agent/work/a1", uid=None))
    assert "--unshare-user" in setup_part(arguments)
    assert "--cap-add" not in arguments
    assert arguments[arguments.index("--") + 1 :] == [
        "/usr/bin/env", "--default-signal", "/usr/bin/setpriv", "--", *COMMAND,
    ]  # fmt: skip


def test_a_uid_is_given_exactly_when_the_agent_switches_users() -> None:
    with pytest.raises(ValueError):
        argv(ROOT, Confinement(workdir="/w", uid=None))
    with pytest.raises(ValueError):
        argv(SandboxConfig(bwrap="bwrap", switch_user=False), Confinement(workdir="/w", uid=200000))


def test_a_program_whose_name_holds_an_equals_sign_is_run_by_setpriv_not_taken_for_a_variable() -> None:
    arguments = argv(command=["/opt/x=1/run", "A=B"])
    assert arguments[-3:] == ["--", "/opt/x=1/run", "A=B"]
    assert arguments[arguments.index("/usr/bin/env") + 2] == "/usr/bin/setpriv"


def test_the_host_is_read_only_with_the_system_links_kept() -> None:
    setup = setup_part(argv())
    assert pairs(setup, "--symlink") == [("usr/bin", "/bin"), ("usr/lib", "/lib")]
    assert sorted(pairs(setup, "--ro-bind")) == [
        ("/etc", "/etc"), ("/opt/venv", "/opt/venv"), ("/sys", "/sys"), ("/usr", "/usr"),
    ]  # fmt: skip
    assert pairs(setup, "--bind") == [(WORKLOAD.workdir, WORKDIR)]  # the only writable host path


def test_missing_parents_are_made_world_readable_and_none_inside_a_bound_tree() -> None:
    view = HostView(read_only=("/usr", "/root/.pyenv/versions/3.11", "/usr/local/lib/extra"))
    setup = setup_part(argv(SandboxConfig("bwrap", True, view)))
    made = [path for perms, option, path in pairs(setup, "--perms", 3) if option == "--dir"]
    assert made[:3] == ["/root", "/root/.pyenv", "/root/.pyenv/versions"]
    assert all(perms == "0755" for perms, option, _ in pairs(setup, "--perms", 3) if option == "--dir")
    assert not any(path.startswith("/usr") for path in made)
    # /usr/local/lib/extra shows through /usr already, the same way: not bound twice.
    assert ("/usr/local/lib/extra", "/usr/local/lib/extra") not in pairs(setup, "--ro-bind")


def test_a_writable_share_inside_a_read_only_one_is_kept_and_one_path_asked_both_ways_is_writable() -> None:
    view = HostView(read_only=("/data", "/scratch"), read_write=("/data/out", "/scratch"))
    setup = setup_part(argv(SandboxConfig("bwrap", True, view)))
    assert pairs(setup, "--ro-bind") == [("/data", "/data"), ("/scratch", "/scratch")]
    assert pairs(setup, "--bind")[:2] == [("/data/out", "/data/out"), ("/scratch", "/scratch")]
    assert setup.index("/data/out") > setup.index("/data")  # mounted over its parent, not under it


def test_tmp_var_tmp_and_dev_shm_are_private_and_a_share_under_tmp_is_bound_after_them() -> None:
    view = HostView(read_only=("/usr",), read_write=("/tmp/shared-run",))
    setup = setup_part(argv(SandboxConfig("bwrap", True, view)))
    tmpfs = {path: perms for perms, option, path in pairs(setup, "--perms", 3) if option == "--tmpfs"}
    assert {path: tmpfs[path] for path in ("/tmp", "/var/tmp", "/dev/shm")} == dict.fromkeys(
        ("/tmp", "/var/tmp", "/dev/shm"), "1777"
    )
    assert setup.index("--dev") < setup.index("/dev/shm")  # the shm tmpfs lives in the new /dev
    assert setup.index("/tmp/shared-run") > setup.index("/tmp")
    assert pairs(setup, "--proc", 1) == [("/proc",)]  # a /proc of the sandbox's processes only


def test_the_state_dir_is_masked_where_a_bound_path_would_show_it_and_not_mentioned_otherwise() -> None:
    shared = HostView(
        read_only=("/usr",), read_write=("/var/lib/aifactory",), hidden=("/var/lib/aifactory/agent",)
    )
    setup = setup_part(argv(SandboxConfig("bwrap", True, shared)))
    masks = [
        path for perms, option, path in pairs(setup, "--perms", 3) if option == "--tmpfs" and perms == "0700"
    ]
    assert masks == ["/var/lib/aifactory/agent"]
    assert setup.index("/var/lib/aifactory/agent") > setup.index("/var/lib/aifactory")  # over the share
    # Nothing shows it in VIEW: no mask needed (its path would only show up as an empty directory).
    assert ("/var/lib/aifactory/agent",) not in pairs(setup_part(argv()), "--tmpfs", 1)


def test_only_the_gpus_device_nodes_are_bound_after_the_new_dev() -> None:
    devices = ("/dev/nvidia3", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-caps/nvidia-cap1")
    setup = setup_part(argv(confinement=Confinement(WORKLOAD.workdir, 200123, devices)))
    assert pairs(setup, "--dev-bind") == [(device, device) for device in devices]
    assert setup.index("--dev-bind") > setup.index("--dev")
    assert ("0755", "--dir", "/dev/nvidia-caps") in pairs(setup, "--perms", 3)
    assert pairs(setup_part(argv()), "--dev-bind") == []  # no GPU (or a simulated one): no device node


def test_the_workdir_is_bound_last_as_the_working_directory() -> None:
    assert setup_part(argv())[-5:] == ["--bind", WORKLOAD.workdir, WORKDIR, "--chdir", WORKDIR]


# --- UIDs -----------------------------------------------------------------------------------------


def test_a_uid_range_is_first_dash_last_within_what_the_kernel_takes() -> None:
    assert uid_range("200000-299999") == range(200000, 300000)
    assert uid_range(" 5000-5000 ") == range(5000, 5001)
    for bad in ("200000", "0-10", "10-5", "a-b", "-5-10", "1-4294967295"):
        with pytest.raises(ValueError):
            uid_range(bad)


def test_a_workload_runs_as_its_tenants_uid_or_its_allocations() -> None:
    assert owner_key("tenant", "t1", "a1") == "tenant-t1"
    assert owner_key("allocation", "t1", "a1") == "allocation-a1"
    assert owner_key("tenant", None, "a1") == "allocation-a1"  # an older command names no tenant


def test_a_key_gets_the_same_free_uid_wherever_it_can_and_never_a_taken_one() -> None:
    uids = range(200000, 200010)
    first = pick_uid("tenant-t1", uids, set())
    assert first is not None and first in uids
    assert pick_uid("tenant-t1", uids, set()) == first  # the same on every node where it is free
    second = pick_uid("tenant-t1", uids, {first})
    assert second is not None and second != first
    assert pick_uid("tenant-t1", uids, set(uids)) is None  # used up
    spread = {pick_uid(f"tenant-{n}", range(200000, 300000), set()) for n in range(50)}
    assert len(spread) > 45  # keys spread over the range

"""The environment a workload runs with: built from scratch, never the agent's own."""

from __future__ import annotations

from services.agent.domain.environment import (
    DEFAULT_LANG,
    DEFAULT_PATH,
    base_environment,
    workload_environment,
)

AGENT_ENV = {
    "PATH": "/opt/venv/bin:/usr/bin",
    "HOME": "/root",
    "LANG": "C",
    "AIFACTORY_ADMIN_KEY": "operator-key",
    "AIFACTORY_DATABASE_URL": "postgresql://postgres:secret@db/postgres",
    "AIFACTORY_NATS_URL": "nats://user:secret@host:4222",
    "AWS_SECRET_ACCESS_KEY": "an-agent-credential",
    "LD_PRELOAD": "/tmp/evil.so",
}


def build(base: dict[str, str], spec_env: dict[str, str], gpus: list[str]) -> dict[str, str]:
    return workload_environment(base, spec_env, gpu_uuids=gpus, job_id="j1", allocation_id="a1", replica=2)


def test_only_path_home_and_lang_come_from_the_agent() -> None:
    base = base_environment(AGENT_ENV, home="/workspace")
    assert base == {"PATH": "/opt/venv/bin:/usr/bin", "HOME": "/workspace", "LANG": "C"}
    env = build(base, {}, ["GPU-a"])
    assert set(env) == {
        "PATH", "HOME", "LANG", "CUDA_VISIBLE_DEVICES", "AIFACTORY_JOB_ID", "AIFACTORY_ALLOCATION_ID", "AIFACTORY_REPLICA",
    }  # fmt: skip
    assert not any("secret" in value or "operator-key" in value for value in env.values())


def test_an_agent_without_path_or_lang_gives_the_defaults() -> None:
    assert base_environment({}, home="/") == {"PATH": DEFAULT_PATH, "HOME": "/", "LANG": DEFAULT_LANG}


def test_bound_gpus_are_the_only_visible_ones_by_uuid() -> None:
    env = build({"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, {}, ["GPU-aaa", "GPU-bbb"])
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-aaa,GPU-bbb"


def test_no_bound_gpu_hides_every_gpu() -> None:
    assert build({}, {}, [])["CUDA_VISIBLE_DEVICES"] == ""


def test_the_job_env_extends_and_overrides_the_base() -> None:
    env = build({"PATH": "/usr/bin", "LANG": "C"}, {"LANG": "en_US.UTF-8", "BATCH": "64"}, ["GPU-a"])
    assert env["PATH"] == "/usr/bin"
    assert env["LANG"] == "en_US.UTF-8"
    assert env["BATCH"] == "64"


def test_the_platform_variables_are_set_and_win() -> None:
    env = build({}, {"AIFACTORY_JOB_ID": "forged", "CUDA_VISIBLE_DEVICES": "0"}, ["GPU-a"])
    assert env["AIFACTORY_JOB_ID"] == "j1"
    assert env["AIFACTORY_ALLOCATION_ID"] == "a1"
    assert env["AIFACTORY_REPLICA"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "GPU-a"


def test_platform_settings_in_a_base_do_not_leak_into_workloads() -> None:
    env = build({"AIFACTORY_NATS_URL": "nats://user:secret@host:4222", "HOME": "/root"}, {}, ["GPU-a"])
    assert "AIFACTORY_NATS_URL" not in env
    assert env["HOME"] == "/root"

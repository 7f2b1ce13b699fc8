"""Settings from the environment and the command line (flags win)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.agent.cli import parse_settings
from services.agent.settings import AgentSettings, default_node_id


def test_defaults_use_nvml_and_a_state_dir_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_AGENT_NODE_ID", "gpu-07")
    settings = AgentSettings()
    assert settings.agent_backend == "nvml"
    assert (settings.agent_heartbeat_s, settings.agent_sample_s) == (2.0, 5.0)
    assert settings.state_dir == Path(".aifactory/agents/gpu-07")


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_AGENT_NODE_ID", "from-env")
    monkeypatch.setenv("AIFACTORY_AGENT_GPUS", "2")
    monkeypatch.setenv("AIFACTORY_AGENT_LABELS", '{"rack": "r0", "zone": "z1"}')
    monkeypatch.setenv("AIFACTORY_NATS_URL", "nats://env:4222")

    settings = parse_settings(
        ["--node-id", "n1", "--backend", "simulated", "--gpus", "8", "--gpu-model", "H100",
         "--state-dir", "/tmp/agent-n1", "--label", "rack=r1", "--heartbeat-s", "0.5", "--stop-grace-s", "5"]
    )  # fmt: skip

    assert settings.agent_node_id == "n1"
    assert settings.agent_backend == "simulated"
    assert (settings.agent_gpus, settings.agent_gpu_model) == (8, "H100")
    assert settings.state_dir == Path("/tmp/agent-n1")
    assert settings.agent_labels == {"rack": "r1", "zone": "z1"}
    assert (settings.agent_heartbeat_s, settings.agent_stop_grace_s) == (0.5, 5.0)
    assert settings.nats_url == "nats://env:4222"


def test_a_label_without_a_value_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_settings(["--label", "rack"])
    assert "label 'rack' is not KEY=VALUE" in capsys.readouterr().err


def test_a_node_id_that_is_not_a_subject_token_is_refused() -> None:
    with pytest.raises(ValueError, match="agent_node_id"):
        AgentSettings(agent_node_id="rack1.node>")


def test_the_default_node_id_is_the_short_host_name_made_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "gpu box.example.com")
    assert default_node_id() == "gpu-box"


def test_a_pool_label_must_be_a_pool_name() -> None:
    assert parse_settings(["--label", "pool=research"]).agent_labels == {"pool": "research"}
    with pytest.raises(ValueError, match="label pool='GPU Pool' is not a pool name"):
        parse_settings(["--label", "pool=GPU Pool"])


def test_the_sandbox_is_on_by_default_with_a_uid_per_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = AgentSettings()
    assert settings.agent_sandbox is True
    assert settings.workload_uids == range(200000, 300000)
    assert settings.agent_workload_uid_per == "tenant"
    assert (settings.agent_sandbox_read_only, settings.agent_sandbox_read_write) == ([], [])


def test_sandbox_settings_from_the_environment_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIFACTORY_AGENT_SANDBOX", "off")
    monkeypatch.setenv("AIFACTORY_AGENT_WORKLOAD_UID_RANGE", "500000-500999")
    monkeypatch.setenv("AIFACTORY_AGENT_WORKLOAD_UID_PER", "allocation")
    monkeypatch.setenv("AIFACTORY_AGENT_SANDBOX_READ_ONLY", '["/opt/models"]')
    settings = AgentSettings()
    assert settings.agent_sandbox is False
    assert settings.workload_uids == range(500000, 501000)
    assert settings.agent_workload_uid_per == "allocation"

    flagged = parse_settings(
        ["--sandbox", "on", "--bwrap", "/opt/bin/bwrap", "--workload-uids", "300000-300099",
         "--sandbox-read-only", "/data", "--sandbox-read-write", "/scratch"]
    )  # fmt: skip
    assert (flagged.agent_sandbox, flagged.agent_sandbox_bwrap) == (True, "/opt/bin/bwrap")
    assert flagged.workload_uids == range(300000, 300100)
    assert flagged.agent_sandbox_read_only == [Path("/opt/models"), Path("/data")]
    assert flagged.agent_sandbox_read_write == [Path("/scratch")]


def test_a_bad_workload_uid_range_is_refused_at_start_up() -> None:
    for bad in ("200000", "0-100", "300-200"):
        with pytest.raises(ValueError, match="agent_workload_uid_range"):
            AgentSettings(agent_workload_uid_range=bad)

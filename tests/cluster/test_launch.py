"""marlrec launch / down: the commands a launch runs, refusals before any cluster work, and
a real Ray job submission of a spec to a running cluster's job API."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from marlrec.cli import main  # noqa: E402
from marlrec.cluster.launch import (  # noqa: E402
    LaunchPlan,
    ray_cli,
    ray_command_env,
    wait_for_port,
)

ROOT = Path(__file__).parents[2]


def test_a_cluster_launch_brings_the_cluster_up_submits_and_fetches_results(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-123")
    ray_ = ray_cli()
    plan = LaunchPlan(spec_path="experiments/quickstart.yaml", name="quickstart",
                      cluster="cluster.yaml", overrides=["seeds=[0,1,2]"])
    assert plan.up() == [ray_, "up", "-y", "cluster.yaml"]
    assert plan.dashboard() == [ray_, "dashboard", "-p", "8265", "cluster.yaml"]
    submit = plan.submit()
    assert submit[:5] == [ray_, "job", "submit", "--address", "http://127.0.0.1:8265"]
    runtime_env = json.loads(submit[submit.index("--runtime-env-json") + 1])
    assert runtime_env["working_dir"] == "." and ".venv" in runtime_env["excludes"]
    # the workers' fixed hash seed (reproducible runs), and no secrets: the job's runtime
    # env is visible in the dashboard
    assert runtime_env["env_vars"] == {"PYTHONHASHSEED": "0"}
    assert "secret-key-123" not in json.dumps(runtime_env)
    entry = submit[submit.index("--") + 1:]
    assert entry[:5] == ["python", "-m", "marlrec.cli", "run", "experiments/quickstart.yaml"]
    assert entry[5:] == ["--set", "logging.results_dir=~/marlrec-results",
                         "--set", "seeds=[0,1,2]"]
    assert plan.fetch_results() == [ray_, "rsync-down", "cluster.yaml",
                                    "~/marlrec-results/quickstart/", "results/quickstart"]
    assert plan.down() == [ray_, "down", "-y", "cluster.yaml"]
    commands = [plan.up(), plan.dashboard(), plan.read_token(), submit, plan.fetch_results()]
    assert not any("secret-key-123" in " ".join(c) for c in commands)


def test_no_ray_command_gets_the_wandb_key_in_its_environment(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "secret-key-123")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    env = ray_command_env()
    assert "WANDB_API_KEY" not in env and "secret-key-123" not in env.values()
    assert env["RAY_AUTH_MODE"] == "disabled"  # everything else is passed on


def test_the_launch_waits_until_the_dashboard_port_is_forwarded():
    """The launch submits once the forwarded port accepts connections (however long the
    ssh forward takes), and fails at once when `ray dashboard` exits first."""
    forward = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                               stdin=subprocess.PIPE)  # a forward that runs until told
    try:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            wait_for_port(server.getsockname()[1], forward)  # returns: the port accepts
    finally:
        forward.stdin.close()
        forward.wait()
    with pytest.raises(RuntimeError, match="exited with code 0 before port"):
        wait_for_port(_free_port(), forward)  # nothing listens and the forward is gone


def test_launch_refuses_bad_input_before_touching_a_cluster(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sharing: federated\n")
    assert main(["launch", str(bad), "--cluster", str(ROOT / "cluster.yaml")]) == 2
    assert "experiment.sharing: 'federated' is not one of" in capsys.readouterr().err
    good = ROOT / "experiments" / "tiny_smoke.yaml"
    assert main(["launch", str(good)]) == 2
    assert "give exactly one of --cluster FILE" in capsys.readouterr().err
    assert main(["launch", str(good), "--cluster", str(tmp_path / "nope.yaml")]) == 2
    assert "no such cluster config" in capsys.readouterr().err
    assert main(["down", "--cluster", str(tmp_path / "nope.yaml")]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_spec_runs_as_a_ray_job_on_a_running_cluster(tmp_path, monkeypatch):
    """A real job API (a local Ray with its dashboard): the spec runs as a job with the
    project as working dir and writes its results and report where the spec says."""
    agent_port = 52365  # Ray's fixed default; ray.init cannot move it
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", agent_port)) == 0:
            # Another local Ray (an experiment, another test session) holds the dashboard
            # agent's port: this cluster's agent could not start and every submission
            # would be refused with "No available agent to submit job".
            pytest.skip(f"port {agent_port} (Ray's dashboard agent) is taken by another "
                        "local Ray on this machine")
    port = _free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=True,
             dashboard_host="127.0.0.1", dashboard_port=port, log_to_driver=False)
    try:
        monkeypatch.chdir(ROOT)
        status = main(["launch", "experiments/tiny_smoke.yaml",
                       "--address", f"http://127.0.0.1:{port}", "--python", sys.executable,
                       "--set", f"logging.results_dir={tmp_path}",
                       "--set", "seeds=[0]", "--set", "stop.env_steps=1000",
                       "--set", "logging.wandb_mode=disabled",
                       "--set", "evaluation.episodes=2",
                       "--set", "evaluation.every_env_steps=1000"])
    finally:
        ray.shutdown()
    assert status == 0
    assert (tmp_path / "tiny_smoke" / "spec.resolved.yaml").is_file()
    assert (tmp_path / "tiny_smoke" / "report" / "report.md").is_file()

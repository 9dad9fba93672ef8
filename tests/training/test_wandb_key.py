"""The W&B API key never leaves the process environment: a real ``marlrec run`` with an
exported key leaves it in no file of Ray's session folder (the logs the dashboard serves)
and in no result, while W&B still writes its run files."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from marlrec.cli import main  # noqa: E402

ROOT = Path(__file__).parents[2]


def files_containing(folder: Path, needle: bytes) -> list[str]:
    """Every regular file under ``folder`` whose bytes contain ``needle`` (sockets, pipes and
    links are skipped: they hold no stored text)."""
    hits = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
            hits.append(str(path.relative_to(folder)))
    return hits


def test_an_exported_wandb_key_reaches_no_ray_log_and_no_result(tmp_path, monkeypatch):
    key = f"fake-key-{secrets.token_hex(16)}"
    monkeypatch.setenv("WANDB_API_KEY", key)  # as a user exports it before `marlrec run`
    monkeypatch.setenv("WANDB_MODE", "offline")  # restored after: the run sets it
    # Ray starts after the export, as `marlrec run` starts it: its workers inherit the key.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        session = Path(ray._private.worker._global_node.get_session_dir_path())
        status = main(["run", str(ROOT / "experiments" / "tiny_smoke.yaml"),
                       "--set", f"logging.results_dir={tmp_path}",
                       "--set", "seeds=[0]", "--set", "stop.env_steps=1000",
                       "--set", "logging.wandb_mode=offline",
                       "--set", "evaluation.episodes=2",
                       "--set", "evaluation.every_env_steps=1000",
                       "--set", "evaluation.baselines=[random]"])
    finally:
        ray.shutdown()  # every Ray process has written its logs
    assert status == 0
    folder = tmp_path / "tiny_smoke"
    # W&B still ran: the logging actor wrote the trial's offline run, the report its own
    runs = sorted((folder / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(list(run.glob("run-*.wandb")) for run in runs)
    assert (session / "logs" / "runtime_env_agent.log").is_file()  # the log that leaked it
    assert files_containing(session, key.encode()) == [], "the key is in Ray's session folder"
    assert files_containing(tmp_path, key.encode()) == [], "the key is in the results"


def test_online_logging_takes_the_key_from_the_drivers_node_never_from_the_driver(
        tmp_path, monkeypatch):
    """Online mode: the logging actor looks for the key on its node (its inherited
    environment, that node's `wandb login`), not in anything the driver sends it. Here the
    key is exported in the driver only, after its Ray started, with no `wandb login` on the
    node: the actor finds none, logs offline and says so."""
    from ray import tune

    from marlrec.config.loading import load_spec
    from marlrec.training.run import _wandb_callback

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # the node's workers: no ~/.netrc
    monkeypatch.setenv("WANDB_MODE", "offline")  # restored after: the callback sets it
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        session = Path(ray._private.worker._global_node.get_session_dir_path())
        key = f"fake-key-{secrets.token_hex(16)}"
        monkeypatch.setenv("WANDB_API_KEY", key)  # the driver's only, Ray already runs
        spec = load_spec(ROOT / "experiments" / "tiny_smoke.yaml",
                         [f"logging.results_dir={tmp_path}", "logging.wandb_mode=online"])
        folder = tmp_path / spec.name
        callback = _wandb_callback(spec, folder)
        # the driver has a key, so the callback asks for online logging
        assert callback.kwargs["mode"] == "online"
        tuner = tune.Tuner(lambda config: tune.report({"score": 1.0}),
                           run_config=tune.RunConfig(name="online", storage_path=str(folder),
                                                     callbacks=[callback], verbose=0))
        assert not [r for r in tuner.fit() if r.error is not None]
    finally:
        ray.shutdown()
    assert len(list((folder / "wandb").glob("offline-run-*"))) == 1
    assert [p for p in (session / "logs").glob("worker-*") if
            b"logging offline instead" in p.read_bytes()], "the actor did not say so"
    assert files_containing(session, key.encode()) == []
    assert files_containing(tmp_path, key.encode()) == []

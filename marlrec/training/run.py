"""Run an experiment spec with Ray Tune: the grid algorithm x sharing mode x variant x
seed, checkpoints, resume, Tune's CSV/JSON results and W&B.

Layout of ``<logging.results_dir>/<name>/``:

- ``spec.resolved.yaml``: the fully resolved spec (also logged with every trial's config);
- ``<algorithm>-<sharing>[-<variant>]/``: one Tune experiment per algorithm, sharing mode
  and variant (:class:`marlrec.config.spec.TrainingGroup`; one trial per seed:
  ``result.json``, ``progress.csv``, checkpoints every ``logging.checkpoint_every``
  iterations and at the end);
- ``wandb/``: W&B run files (``offline-run-*`` in offline mode);
- with ``search``, ``search/`` and ``search.json``: each group's hyperparameter search,
  run before its comparison trials (:mod:`marlrec.training.search`).

With ``spec.encoder_pool``, the encoder pool (:class:`marlrec.encoder.pool.EncoderPool`)
starts before the first trial, every trial's envs use its client, and it stops at the end.

``resume=True`` restores each of these Tune experiments from its folder and continues
unfinished trials from their last checkpoint; finished trials are not redone.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from marlrec.config.spec import ExperimentSpec, TrainingGroup, training_groups, variant_spec
from marlrec.staged_folder import write_text_atomically
from marlrec.training.search import STOP_KEY, read_winners

logger = logging.getLogger(__name__)

# Environment of every Ray worker process (``ray.init`` locally, the job's runtime_env on
# a cluster). RLlib iterates sets of agent and module ids while it samples, so with
# Python's per-process hash randomisation the order in which agents draw from the seeded
# torch generator changes between runs and the same training seed trains a different
# policy; a fixed hash seed in every worker makes a seed repeat its run.
WORKER_ENV_VARS = {"PYTHONHASHSEED": "0"}


@dataclass
class TrialSummary:
    algorithm: str
    sharing: str
    variant: str | None
    seed: int
    env_steps: int
    episode_return_mean: float | None
    path: str
    checkpoint: str | None

    @property
    def label(self) -> str:
        group = TrainingGroup(self.algorithm, self.sharing, self.variant).label
        return f"{group} seed {self.seed}"


def _write_resolved_spec(spec: ExperimentSpec, folder: Path) -> Path:
    return write_text_atomically(folder / "spec.resolved.yaml",
                             yaml.safe_dump(spec.to_dict(), sort_keys=False))


def code_commit() -> str:
    """The git commit of the marlrec source that runs (``+dirty`` with uncommitted changes
    to the code: ``marlrec/``, ``envs/``, the package's pins; ``unknown`` outside a git
    checkout)."""
    import subprocess

    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        root = git("rev-parse", "--show-toplevel")  # pathspecs below are the repository's
        dirty = git("-C", root, "status", "--porcelain", "--untracked-files=no", "--",
                    "marlrec", "envs", "pyproject.toml", "constraints.txt")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty" if dirty else commit


def write_provenance(folder: Path, command: list[str]) -> None:
    """``provenance.json``: the command and the code commit that produced the results in
    ``folder`` (the report names them beside every number)."""
    import shlex
    import time

    record = {"command": shlex.join(["marlrec", *command]), "commit": code_commit(),
              "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomically(folder / "provenance.json", json.dumps(record, indent=2))


def _wandb_callback(spec: ExperimentSpec, folder: Path, group: TrainingGroup | None = None
                    ) -> Any:
    """Tune's W&B logger, made unable to stop training (a W&B failure is logged and the
    trial goes on without it) and unable to leak the W&B API key.

    Runs are grouped by experiment (``logging.wandb_group``, default the spec's name) and
    named ``ALGORITHM-SHARING[-VARIANT]-seedN``; a run's config is the resolved spec with
    the trial's algorithm, sharing mode, variant and seed (under ``marlrec``) beside RLlib's
    full config (under ``rllib``). The in-training evaluations are in every result
    (``evaluation/...``), and the report is logged as tables and images by
    :mod:`marlrec.report.wandb_report`.

    Tune's ``WandbLoggerCallback._start_logging_actor`` copies an exported
    ``WANDB_API_KEY`` into its logging actor's ``runtime_env`` env vars, and Ray writes
    every runtime env in plain text to ``logs/runtime_env_agent.log`` of the session (which
    the dashboard serves). Here the logging actor gets no runtime env of its own: it runs on
    the driver's node (as Tune places it) and finds the key there, as ``wandb`` does, in
    the environment its Ray worker inherited (the shell that started Ray; a KubeRay pod's
    secret) or in that node's ``wandb login`` (``~/.netrc``, which ``marlrec launch``
    writes on a cluster's head). Offline and disabled runs need no key at all."""
    import ray
    from ray.air.integrations.wandb import (
        WandbLoggerCallback,
        _set_api_key,
        _WandbLoggingActor,
    )
    from ray.air.util.node import _force_on_current_node

    class KeyOnNodeWandbLoggingActor(_WandbLoggingActor):
        """Tune's logging actor, resolving the key where it runs: online without a key on
        this node, it logs offline and says so (instead of failing in ``wandb.init``,
        unseen, and losing the trial's W&B record)."""

        def run(self) -> None:
            mode = self.kwargs.get("mode")
            if mode == "online":
                # this actor's own process; _set_api_key reads the mode from here
                os.environ["WANDB_MODE"] = mode
                try:
                    _set_api_key()  # the env var, this node's `wandb login`, or Tune's hook
                except ValueError as exc:
                    logger.warning(
                        "W&B online: no API key on the driver's node (%s); logging offline "
                        "instead. Run `wandb login` on that node or export WANDB_API_KEY "
                        "where its Ray was started.", exc)
                    self.kwargs["mode"] = os.environ["WANDB_MODE"] = "offline"
            super().run()

    class SafeWandbLoggerCallback(WandbLoggerCallback):
        _logger_actor_cls = KeyOnNodeWandbLoggingActor

        def _guard(self, name: str, *args: Any, **kwargs: Any) -> None:
            try:
                getattr(super(), name)(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - W&B must never stop training
                logger.warning("W&B logging failed in %s (%s); training continues", name, exc)

        def _start_logging_actor(self, trial: Any, exclude_results: list[str],
                                 **wandb_init_kwargs: Any) -> None:
            seed = trial.config.get("seed")
            chosen = {"algorithm": None, "sharing": None, "variant": None}
            if group is not None:
                wandb_init_kwargs["name"] = f"{group.name}-seed{seed}"
                chosen = {"algorithm": group.algorithm, "sharing": group.sharing,
                          "variant": group.variant}
            wandb_init_kwargs["config"] = {
                "marlrec": {**spec.to_dict(), **chosen, "seed": seed},
                "rllib": wandb_init_kwargs.get("config", {})}
            wandb_init_kwargs.setdefault("tags", [t for t in chosen.values() if t])
            if not self._remote_logger_class:
                # Tune builds this actor class once, with runtime_env={"env_vars":
                # {"WANDB_API_KEY": <key>}} when the key is exported; built first here, with
                # Tune's other options and no runtime env, Tune's own build is skipped.
                # No restarts: a restarted actor would need its constructor arguments from
                # the object store (Ray warns on the console for each one); a dead logging
                # actor costs the trial its W&B record, never the training.
                self._remote_logger_class = ray.remote(
                    num_cpus=0, **_force_on_current_node())(self._logger_actor_cls)
            super()._start_logging_actor(trial, exclude_results, **wandb_init_kwargs)

        def log_trial_start(self, trial: Any) -> None:
            self._guard("log_trial_start", trial)

        def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
            self._guard("log_trial_result", iteration, trial, result)

        def log_trial_end(self, trial: Any, failed: bool = False) -> None:
            self._guard("log_trial_end", trial, failed)

    mode = spec.logging.wandb_mode
    # The spec's mode wins over an exported WANDB_MODE: Tune's setup and _set_api_key read
    # it here and check for an API key unless it says offline/disabled.
    os.environ["WANDB_MODE"] = mode
    if mode == "online":
        try:
            _set_api_key()  # the driver's node is where the logging actor runs
        except ValueError as exc:  # no key: keep training, log offline, say so
            logger.warning("W&B online needs an API key (%s); logging offline instead", exc)
            mode = os.environ["WANDB_MODE"] = "offline"
    (folder / "wandb").mkdir(parents=True, exist_ok=True)
    return SafeWandbLoggerCallback(
        project=spec.logging.wandb_project, group=spec.logging.wandb_group or spec.name,
        mode=mode, dir=str(folder), log_config=True)


def run_experiment(spec: ExperimentSpec, resume: bool = False, encoder: Any = None,
                   verbose: int = 1, check_resources: bool = True,
                   command: list[str] | None = None, console: Any = None
                   ) -> list[TrialSummary]:
    """Runs (or resumes) every algorithm x sharing x variant x seed trial of ``spec``; Ray
    must be running. ``encoder`` overrides the spec's (and its pool). ``check_resources=False``
    skips :func:`check_cluster_fits` (an autoscaling cluster grows to fit). ``command``
    (the CLI arguments) is recorded with the code's commit in ``provenance.json``.

    ``console`` (a rich console): Tune prints nothing and the trials show as one live table
    on it (:mod:`marlrec.training.progress`); without one, Tune's own output at
    ``verbose``."""
    if check_resources:
        check_cluster_fits(spec)
    folder = Path(spec.logging.results_dir).expanduser().resolve() / spec.name
    if not resume:
        refuse_a_second_run(folder)
    _write_resolved_spec(spec, folder)
    if command is not None and not resume:  # a resumed run keeps its first record
        write_provenance(folder, command)
    pool = None
    if spec.encoder_pool is not None and encoder is None:
        from marlrec.encoder.pool import EncoderPool

        pool = EncoderPool(spec.encoder_pool)
        encoder = pool.client()
    try:
        if console is None:
            return _run_grid(spec, folder, resume, encoder, verbose)
        return _run_grid_live(spec, folder, resume, encoder, console)
    finally:
        if pool is not None:
            pool.shutdown()


def refuse_a_second_run(folder: Path) -> None:
    """A new run into a folder that holds trials would add its trials beside them, and the
    report would read one run's seeds from either: refused, before anything is written."""
    trials = sorted(p.parent.parent.name for p in folder.glob("*/*/params.json"))
    if trials:
        raise FileExistsError(
            f"{folder} already holds a run ({len(trials)} trials in "
            f"{sorted(set(trials))}): continue it with --resume, or give this run another "
            "name (--set name=...) or remove the folder")


def _run_grid_live(spec: ExperimentSpec, folder: Path, resume: bool, encoder: Any,
                   console: Any) -> list[TrialSummary]:
    from rich.live import Live

    from envs.metrics import METRICS
    from marlrec.training.progress import LiveTrials, baseline_reference

    with console.status("the baselines on the in-training evaluation episodes (the live "
                        "table's reference)"):
        reference = baseline_reference(spec, encoder)
    metric = spec.evaluation.metric
    groups = training_groups(spec)
    trials = len(groups) * len(spec.seeds)
    if spec.search is not None:  # the searches still to run (a resumed run reuses winners)
        searched = read_winners(folder)
        trials += spec.search.num_samples * sum(g.name not in searched for g in groups)
    live = LiveTrials(spec.stop.env_steps, metric, METRICS[metric].label, reference, trials)
    with Live(live, console=console, refresh_per_second=2):
        return _run_grid(spec, folder, resume, encoder, verbose=0, live=live)


def check_cluster_fits(spec: ExperimentSpec) -> None:
    """Refuses, before anything starts, an experiment whose trial plus encoder pool needs
    more CPUs or GPUs than the running Ray cluster has (Tune would wait forever)."""
    import ray

    r = spec.resources
    trial_cpus = 1 + r.num_env_runners + r.num_learners
    trial_gpus = r.num_gpus_per_learner * max(1, r.num_learners)
    pool = spec.encoder_pool
    pool_cpus = pool.num_replicas * pool.num_cpus if pool else 0.0
    pool_gpus = pool.num_replicas * pool.num_gpus if pool else 0.0
    have = ray.cluster_resources()
    for key, amount in r.env_runner_resources.items():
        need = amount * max(1, r.num_env_runners)
        if need > have.get(key, 0.0) + 1e-9:
            raise ValueError(
                f"resources.env_runner_resources.{key}: the env runners need {need:g} of "
                f"'{key}' and the Ray cluster has {have.get(key, 0.0):g}; start nodes with "
                f"that resource (cluster.yaml's cpu_rollout nodes carry 'rollout') or drop it")
    for kind, trial, served, fields in (
            ("CPU", trial_cpus, pool_cpus, "resources.num_env_runners/num_learners, "
                                           "encoder_pool.num_replicas/num_cpus"),
            ("GPU", trial_gpus, pool_gpus, "resources.num_gpus_per_learner, "
                                           "encoder_pool.num_gpus")):
        if trial + served > have.get(kind, 0.0) + 1e-9:
            raise ValueError(
                f"the Ray cluster has {have.get(kind, 0.0):g} {kind}s; one trial needs "
                f"{trial:g} (1 for the algorithm + env runners + learners) and the encoder "
                f"pool {served:g}: lower {fields}")


def _run_grid(spec: ExperimentSpec, folder: Path, resume: bool, encoder: Any,
              verbose: int, live: Any = None) -> list[TrialSummary]:
    from ray import tune

    from marlrec.algorithms import ALGORITHMS
    from marlrec.evaluation.protocol import evaluation_callback
    from marlrec.training.rllib_config import build_algorithm_config
    from marlrec.training.search import run_search, searched_training

    summaries = []
    for group in training_groups(spec):
        algorithm, sharing = group.algorithm, group.sharing
        searched = None if spec.search is None else run_search(spec, folder, group, encoder,
                                                                live)
        config = build_algorithm_config(
            searched_training(variant_spec(spec, group.variant), algorithm, searched), algorithm,
            sharing, seed=spec.seeds[0], encoder=encoder)
        config = config.debugging(seed=tune.grid_search(list(spec.seeds)))
        callbacks = config.callbacks_class  # a list, as build_algorithm_config sets it
        config = config.callbacks([*callbacks, evaluation_callback(spec, group)])
        config.env_config["marlrec_spec"] = spec.to_dict()  # logged with every trial
        trainable = ALGORITHMS[algorithm].config_class()().algo_class
        name = group.name
        path = folder / name
        callbacks = [] if spec.logging.wandb_mode == "disabled" else [
            _wandb_callback(spec, folder, group)]
        if live is not None:
            live.start_group(name, list(spec.seeds))
            callbacks.append(live)
        if resume and tune.Tuner.can_restore(str(path)):
            tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_errored=True,
                                       param_space=config)
        else:
            tuner = tune.Tuner(
                trainable, param_space=config,
                run_config=tune.RunConfig(
                    name=name, storage_path=str(folder),
                    stop={STOP_KEY: spec.stop.env_steps}, callbacks=callbacks,
                    verbose=verbose,
                    # Tune keeps the experiment state (which checkpoints exist) in a
                    # staging folder and syncs it every sync_period: a killed driver
                    # resumes from the checkpoint that state names, about 10 s back.
                    # Every checkpoint is kept: with a cap (num_to_keep=2 before), fast
                    # iterations deleted the checkpoint the synced state still named, and
                    # --resume failed ("does not exist on storage anymore").
                    sync_config=tune.SyncConfig(sync_period=10),
                    checkpoint_config=tune.CheckpointConfig(
                        checkpoint_frequency=spec.logging.checkpoint_every,
                        checkpoint_at_end=True, num_to_keep=None)))
        results = tuner.fit()
        failed = [r for r in results if r.error is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} trial(s) of {name} failed; first: "
                               f"{type(failed[0].error).__name__}: {failed[0].error} "
                               f"(trial folder {failed[0].path})")
        for result in results:
            metrics = result.metrics or {}
            runners = metrics.get("env_runners", {})
            summaries.append(TrialSummary(
                algorithm=algorithm, sharing=sharing, variant=group.variant,
                seed=int(result.config.get("seed", -1)),
                env_steps=int(runners.get("num_env_steps_sampled_lifetime", 0)),
                episode_return_mean=runners.get("episode_return_mean"),
                path=str(result.path),
                checkpoint=result.checkpoint.path if result.checkpoint else None))
    return summaries

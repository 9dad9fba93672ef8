"""The evaluation protocol: fixed evaluation seeds, evaluations during training, the best
modules of each run, and the baselines, all in the same env on the same episodes.

Seeds (episode ``e`` of an evaluation, ``s = spec.evaluation.seed``):

- during training, every evaluation of every run: seed ``s + e`` (``evaluation.episodes``
  episodes), so evaluation points are comparable along a run and across runs;
- the absolute metric (Gorsane et al. 2022): run ``r``'s best modules, re-evaluated on
  ``absolute_factor x episodes`` episodes seeded ``s + ABSOLUTE_SEED_STRIDE * (r + 1) + e``;
  every baseline's run ``r`` uses the same episodes, so learned run ``r`` and baseline run
  ``r`` are paired, and runs differ in their episodes as well as in their training seed.

Training env seeds come from RLlib (the trial seed and runner index), far below ``s``.

A **baseline** replaces every learned role by a scripted behaviour: the baseline's name
for the roles that offer it (e.g. ``greedy_by_appeal`` for the slate policy), the role's
default scripted behaviour for the others (e.g. ``static`` providers). Roles the spec
scripts keep their behaviour. ``collaborative_filtering`` (MovieLens catalogs) is ALS on
the ratings' training split (:mod:`marlrec.evaluation.collaborative_filtering`).

:func:`evaluation_callback` evaluates the learned modules at the end of each training
iteration that crosses a multiple of ``evaluation.every_env_steps`` (``result["evaluation"]``:
metric means, the episode values of ``evaluation.metric``, env steps, its wall-clock
``time_s``, and the evaluation points ``k`` it stands for: an iteration that crosses two
multiples stands for both), so every run of every algorithm has the points
``1 .. stop.env_steps / every_env_steps``; it saves the modules of the best evaluation so
far to ``<results>/<name>/best/<group>/seed_<seed>/`` (``group``: ``<algorithm>-<sharing>``
and ``-<variant>`` with variants; written to a temporary
folder and renamed: never half-written).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

import envs
from marlrec.algorithms import ALGORITHMS
from marlrec.config.spec import (
    ExperimentSpec,
    TrainingGroup,
    absolute_seed_of,
    evaluation_env_params,
    variant_spec,
)
from marlrec.encoder import resolve_encoder
from marlrec.evaluation.baselines import EVALUATION_BASELINES
from marlrec.evaluation.learned_behaviour import LearnedBehaviour
from marlrec.evaluation.scripted_comparison import episodes_on_seeds
from marlrec.staged_folder import staged_folder
from marlrec.training.sharing import module_table


def evaluation_env(spec: ExperimentSpec, client: Any = None) -> envs.RecEcosystemEnv:
    """The env that evaluations run in: the training env's params updated by
    ``evaluation.env_params`` (e.g. cold users and items let in), with the encoders the
    training envs used (:func:`env_encoders`): ``client`` is the pool's client (found by
    name when ``None`` and the spec has a pool), or an encoder object in place of the
    spec's."""
    if client is None:
        client = experiment_encoder(spec)
    encoders = env_encoders(spec, client)
    return envs.make_env(spec.env.preset, encoder=resolve_encoder(encoders["encoder"]),
                         state_encoder=resolve_encoder(encoders["state_encoder"]),
                         **evaluation_env_params(spec))


def env_encoders(spec: ExperimentSpec, client: Any = None) -> dict[str, Any]:
    """The ``encoder`` (item texts) and ``state_encoder`` (user texts) env_config values of
    an experiment's envs: the spec's names (``env.encoder``, ``env.state_encoder``, which
    defaults to it), where the pool serves one of them (``encoder_pool.encoder``) its
    ``client``; without a pool, a ``client`` given replaces both."""
    item = spec.env.encoder
    state = spec.env.state_encoder or item
    if client is None:
        return {"encoder": item, "state_encoder": state}
    if spec.encoder_pool is None:
        return {"encoder": client, "state_encoder": client}
    served = spec.encoder_pool.encoder
    return {"encoder": client if item == served else item,
            "state_encoder": client if state == served else state}


def experiment_encoder(spec: ExperimentSpec) -> Any:
    """The client of the experiment's running encoder pool (training's, or the one
    ``marlrec report`` starts: :func:`marlrec.encoder.pool.running_pool`), found by name;
    ``None`` without ``encoder_pool``."""
    if spec.encoder_pool is not None:
        from marlrec.encoder.pool import connect

        return connect(spec.encoder_pool)
    return None


def absolute_seed(spec: ExperimentSpec, run: int) -> int:
    """First episode seed of run ``run``'s absolute-metric evaluation."""
    return absolute_seed_of(spec.evaluation.seed, run)


def absolute_episodes(spec: ExperimentSpec) -> int:
    return spec.evaluation.absolute_factor * spec.evaluation.episodes


def scripted_roles(env: envs.RecEcosystemEnv, spec: ExperimentSpec) -> dict[str, Any]:
    """Role-level behaviours of the roles the spec scripts."""
    return {role: envs.role_behaviour(env, role, spec.roles[role].behaviour)
            for role in envs.ROLES if not spec.roles[role].learned}


def baseline_behaviours(env: envs.RecEcosystemEnv, spec: ExperimentSpec, name: str
                        ) -> dict[str, Any]:
    """Every role scripted: baseline ``name`` for the learned roles that offer it, their
    default behaviour for the other learned roles."""
    behaviours = scripted_roles(env, spec)
    for role in spec.learned_roles:
        evaluation_only = EVALUATION_BASELINES.get(name)
        if evaluation_only is not None and evaluation_only.role == role:
            behaviours[role] = evaluation_only.create(env, seed=spec.evaluation.seed)
            continue
        chosen = name if name in envs.ROLE_BEHAVIOURS[role] else envs.DEFAULT_BEHAVIOURS[role]
        behaviours[role] = envs.role_behaviour(env, role, chosen)
    return behaviours


def learned_behaviours(env: envs.RecEcosystemEnv, spec: ExperimentSpec, algorithm: str,
                       sharing: str, modules: dict[str, Any]) -> dict[str, Any]:
    """Scripted roles as the spec says, learned agents acting greedily with ``modules``
    (module id -> RLModule, trained by ``algorithm``, whose greedy-action adapter acts)."""
    greedy_action = ALGORITHMS[algorithm].greedy_action()
    behaviours: dict[str, Any] = scripted_roles(env, spec)
    table = module_table(env, spec.learned_roles, sharing)
    wrapped: dict[str, LearnedBehaviour] = {}
    for agent in env.possible_agents:
        if env.role_of(agent) in spec.learned_roles:
            module_id = table[agent]
            if module_id not in wrapped:
                wrapped[module_id] = LearnedBehaviour(
                    modules[module_id], env.observation_space(agent), module_id, greedy_action)
            behaviours[agent] = wrapped[module_id]
    return behaviours


def learned_module_ids(env: envs.RecEcosystemEnv, spec: ExperimentSpec, sharing: str
                       ) -> list[str]:
    table = module_table(env, spec.learned_roles, sharing)
    return sorted({m for a, m in table.items() if env.role_of(a) in spec.learned_roles})


def finite_mean(values: list[float]) -> float:
    """Mean of the values that are not NaN; NaN if none are."""
    finite = [v for v in values if not np.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(episodes: list[dict[str, float]], metric: str) -> dict[str, Any]:
    """Metric means over episodes (NaN entries left out: a cold-start metric of an episode
    without cold users) plus the episode values of the headline ``metric``."""
    out: dict[str, Any] = {key: finite_mean([m[key] for m in episodes])
                           for key in episodes[0]}
    out["episodes"] = len(episodes)
    out[f"{metric}_per_episode"] = [float(m[metric]) for m in episodes]
    return out


def best_folder(experiment: Path, group: TrainingGroup, seed: int) -> Path:
    """Where the best modules of one run (of ``group``, trained with ``seed``) live inside
    the experiment's results folder."""
    return Path(experiment) / "best" / group.name / f"seed_{seed}"


def save_modules(algorithm: Any, module_ids: list[str], folder: Path,
                 record: dict[str, Any]) -> None:
    """Saves the modules and ``best.json`` into ``folder`` atomically."""
    with staged_folder(folder) as staging:
        for module_id in module_ids:
            algorithm.get_module(module_id).save_to_path(str(staging / module_id))
        (staging / "best.json").write_text(json.dumps(record, indent=2))


def load_modules(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The modules saved by :func:`save_modules` and their ``best.json`` record."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    record_path = folder / "best.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"{folder}: no best.json; was the run evaluated during "
                                "training (evaluation.every_env_steps)?")
    record = json.loads(record_path.read_text())
    modules = {m: RLModule.from_checkpoint(str(folder / m)) for m in record["modules"]}
    return modules, record


SCORE_KEY = "evaluation_score"
"""A result key holding the trial's latest in-training evaluation of ``evaluation.metric``
(from its first evaluation on): what a hyperparameter search schedules by."""


def evaluation_callback(spec: ExperimentSpec, group: TrainingGroup, save_best: bool = True
                        ) -> type[RLlibCallback]:
    """An ``RLlibCallback`` class running the in-training evaluations of one trial of
    ``group`` (in its variant's evaluation env); ``save_best=False`` keeps no modules (a
    search's trials)."""
    experiment = Path(spec.logging.results_dir).expanduser().resolve() / spec.name
    algorithm_name, sharing = group.algorithm, group.sharing
    spec = variant_spec(spec, group.variant)
    every = spec.evaluation.every_env_steps
    metric = spec.evaluation.metric
    budget = spec.stop.env_steps

    class EvaluationCallback(RLlibCallback):
        def __init__(self) -> None:
            super().__init__()
            self._env: envs.RecEcosystemEnv | None = None
            self._best = -np.inf
            self._last: float | None = None

        def on_train_result(self, *, algorithm: Any, metrics_logger: Any = None,
                            result: dict, **kwargs: Any) -> None:
            iteration = int(result["training_iteration"])
            runners = result["env_runners"]
            steps = int(runners.get("num_env_steps_sampled_lifetime", 0))
            before = steps - int(runners.get("num_env_steps_sampled", 0))
            points = list(range(before // every + 1, min(steps, budget) // every + 1))
            if not points:
                if self._last is not None:
                    result[SCORE_KEY] = self._last
                return
            started = time.perf_counter()
            if self._env is None:  # with the encoder object the training envs use
                config = algorithm.config.env_config
                client = next((e for e in (config.get("encoder"), config.get("state_encoder"))
                               if e is not None and not isinstance(e, str)), None)
                self._env = evaluation_env(spec, client)
            ids = learned_module_ids(self._env, spec, sharing)
            modules = {m: algorithm.get_module(m) for m in ids}
            behaviours = learned_behaviours(self._env, spec, algorithm_name, sharing, modules)
            episodes = episodes_on_seeds(self._env, behaviours, spec.evaluation.episodes,
                                         spec.evaluation.seed)
            summary = summarise(episodes, metric)
            summary["env_steps"] = steps
            summary["points"] = points
            summary["time_s"] = time.perf_counter() - started  # its cost, in the results
            result["evaluation"] = summary
            self._last = result[SCORE_KEY] = float(summary[metric])
            if not save_best:
                return
            seed = int(algorithm.config.seed)
            folder = best_folder(experiment, group, seed)
            if self._best == -np.inf and (folder / "best.json").is_file():  # resumed run
                self._best = json.loads((folder / "best.json").read_text())["score"]
            if summary[metric] > self._best:
                self._best = summary[metric]
                save_modules(algorithm, ids, folder,
                             {"modules": ids, "iteration": iteration, "env_steps": steps,
                              "metric": metric, "score": summary[metric], "seed": seed})

    return EvaluationCallback

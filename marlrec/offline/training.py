"""Offline RL from the logs: RLlib's BC and MARWIL (new API stack) train marlrec's
candidate-scoring slate actor from ``interactions.parquet``, and the trained slate policies
are evaluated online in the simulator like every learned policy.

The log's rows are one-step episodes (:mod:`marlrec.offline.logs`): BC imitates the logged
slates; MARWIL (Wang et al. 2018) weights each logged slate by ``exp(beta x advantage)``,
its reward against a learned value of the context (``beta = 0`` is BC), so it leans toward
the slates that earned more than the logging policy's average there. Each training seed of
the spec trains one run; run ``r`` is then evaluated on the absolute-metric episodes of the
evaluation protocol (``evaluation.episodes x absolute_factor`` episodes from
:func:`marlrec.evaluation.protocol.absolute_seed`), and the logging policy and the
baselines play the same episodes. Aggregates across runs are the report's (IQM and mean with
stratified bootstrap 95% CIs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

OFFLINE_ALGORITHMS = ("BC", "MARWIL")


def train_from_logs(parquet: Path, env: Any, algorithm: str, seed: int, iterations: int,
                    lr: float, batch_size: int, beta: float, model: dict[str, Any]) -> Any:
    """The slate module ``algorithm`` trains from ``parquet`` in ``iterations`` iterations
    (Ray must be running)."""
    import gymnasium as gym
    from ray.rllib.algorithms.bc import BCConfig
    from ray.rllib.algorithms.marwil import MARWILConfig

    from marlrec.algorithms.actor_critic import actor_critic_spec

    own = env.observation_space("slate_policy_0")
    flat = gym.spaces.Box(-np.inf, np.inf, (gym.spaces.flatdim(own),), np.float32)
    config = BCConfig() if algorithm == "BC" else MARWILConfig().training(beta=beta)
    config = (config
              .environment(observation_space=flat, action_space=env.action_space(
                  "slate_policy_0"))
              # one reader actor that takes no CPU: on a small machine Ray Data's default
              # (two actors of a CPU each, kept after the algorithm stops) left none for
              # the next training
              .offline_data(input_=[str(parquet)], input_read_method="read_parquet",
                            dataset_num_iters_per_learner=1,
                            map_batches_kwargs={"concurrency": 1, "num_cpus": 0})
              .rl_module(rl_module_spec=actor_critic_spec(own, 0, model))
              .training(train_batch_size_per_learner=batch_size, lr=lr)
              .learners(num_learners=0)
              .debugging(seed=seed))
    import copy

    from ray.rllib.core import DEFAULT_MODULE_ID

    algo = config.build_algo()
    try:
        for _ in range(iterations):
            algo.train()
        # an offline algorithm has no env runner to ask (Algorithm.get_module): its learner
        results = algo.learner_group.foreach_learner(
            lambda learner: copy.deepcopy(learner.module[DEFAULT_MODULE_ID]))
        return next(iter(results)).get()
    finally:
        algo.stop()


def evaluate_online(env: Any, spec: Any, slate_behaviours: dict[str, list[Any]],
                    progress: Any = None) -> dict[str, list[list[dict[str, float]]]]:
    """Each policy's runs' absolute-metric episodes: ``slate_behaviours[name][r]`` plays
    run ``r``'s episodes (the same for every policy), users and providers as the spec
    scripts them."""
    import envs
    from marlrec.evaluation.protocol import absolute_episodes, absolute_seed
    from marlrec.evaluation.scripted_comparison import episodes_on_seeds

    scripted = {role: envs.role_behaviour(env, role, spec.roles[role].behaviour)
                for role in ("user", "provider")}
    out: dict[str, list[list[dict[str, float]]]] = {}
    for name, runs in slate_behaviours.items():
        out[name] = []
        for r, behaviour in enumerate(runs):
            out[name].append(episodes_on_seeds(env, {**scripted, "slate_policy": behaviour},
                                               absolute_episodes(spec), absolute_seed(spec, r)))
            if progress is not None:
                progress()
    return out


def online_table(results: dict[str, list[list[dict[str, float]]]], metric: str,
                 reps: int = 2000) -> tuple[str, dict[str, Any]]:
    """A markdown table of ``metric`` per policy (IQM and mean over runs, 95% CIs) and the
    figures as a dict (each run's mean too)."""
    from envs.metrics import label
    from marlrec.evaluation import aggregate

    scores = {name: np.array([np.mean([e[metric] for e in run]) for run in runs])
              for name, runs in results.items()}
    estimates = aggregate.interval_estimates(scores, reps=reps)
    rows = [f"| policy | {label(metric)}: IQM [95% CI] | mean [95% CI] | runs |",
            "|---|---:|---:|---:|"]
    figures = {}
    for name, by_kind in estimates.items():
        rows.append(f"| {name} | {by_kind['IQM']} | {by_kind['Mean']} | {scores[name].size} |")
        figures[name] = {"runs": scores[name].tolist(),
                         **{k: [e.point, e.low, e.high] for k, e in by_kind.items()}}
    return "\n".join(rows), figures

"""RLlib sampling throughput of the ecosystem as a share of the standalone rollout of the
same env, measured in the same run.

Two envs:

- ``quickstart``: the env of ``experiments/quickstart.yaml`` (MovieLens-100k, MiniLM item
  vectors, its sessions, observation width and sub-envs per runner);
- ``synthetic``: ``interest_evolution`` on the synthetic catalog, 8 sessions, slate 2 of
  10, ``item_mean`` state, hashing encoder (8 slate + 8 user + 10 provider agents), with 1
  and with 8 sub-envs per runner.

For each: the standalone rollout (``envs.rollout``, the batched numpy path, a random slate
policy, scripted users and providers) on one core, then RLlib's ``EnvRunner.sample()`` on
one remote env runner with a freshly initialised PPO slate module (users and providers act
inside the env, as in training), after a warm-up. ``rllib_share_of_standalone`` is RLlib
env steps/s / standalone env steps/s.

Usage: ``python benchmarks/sampling_throughput.py [--steps 3200]``; the last line is JSON
and carries the quickstart env's share as ``rllib_share_of_standalone``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

SYNTHETIC = {"preset": "interest_evolution",
             "params": {"num_sessions": 8, "num_candidates": 10, "slate_size": 2,
                        "horizon": 200, "user_state": "item_mean"}}


def measure_sampling(algo, steps: int) -> float:
    """Env steps/s of ``algo``'s remote env runner sampling ``steps`` env steps after a
    warm-up of ``steps // 4``."""

    def sample(runner, n):
        return sum(len(e) for e in runner.sample(num_timesteps=n, random_actions=False))

    group = algo.env_runner_group
    group.foreach_env_runner(lambda r: sample(r, max(200, steps // 4)), local_env_runner=False)
    started = time.perf_counter()
    counts = group.foreach_env_runner(lambda r: sample(r, steps), local_env_runner=False)
    return sum(counts) / (time.perf_counter() - started)


def standalone(env_spec: dict, encoder: str | None, steps: int) -> tuple[float, int]:
    import envs
    from marlrec.encoder import resolve_encoder

    env = envs.make_env(env_spec["preset"], encoder=resolve_encoder(encoder),
                        **env_spec["params"])
    behaviours = envs.scripted_behaviours(env, "random")
    envs.rollout(env, behaviours, episodes=1)  # warm-up
    episodes = max(1, steps // env.config.horizon)
    started = time.perf_counter()
    result = envs.rollout(env, behaviours, episodes=episodes)
    return result.env_steps / (time.perf_counter() - started), len(env.possible_agents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3200, help="env steps sampled per env")
    args = parser.parse_args()

    import ray
    import yaml
    from rich.console import Console
    from rich.table import Table

    from marlrec.config.spec import parse_spec
    from marlrec.training.rllib_config import build_algorithm_config

    quickstart = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..",
                                                  "experiments", "quickstart.yaml")))
    cases = {  # name: env, encoder, sub-envs per runner
        "quickstart": (quickstart["env"], quickstart["env"].get("encoder"),
                       quickstart["resources"].get("num_envs_per_env_runner", 1)),
        "synthetic, 1 sub-env": (SYNTHETIC, "hashing", 1),
        "synthetic, 8 sub-envs": (SYNTHETIC, "hashing", 8),
    }
    console = Console()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    figures: dict[str, dict] = {}
    rollouts: dict[str, tuple[float, int]] = {}  # one standalone measurement per env
    for name, (env_spec, encoder, sub_envs) in cases.items():
        key = json.dumps([env_spec, encoder], sort_keys=True)
        if key not in rollouts:
            with console.status(f"{name}: standalone rollout"):
                rollouts[key] = standalone(env_spec, encoder, args.steps)
        alone, agents = rollouts[key]
        spec = parse_spec({"name": "bench", "env": {**env_spec, "encoder": encoder},
                           "resources": {"num_env_runners": 1,
                                         "num_envs_per_env_runner": sub_envs},
                           "logging": {"wandb_mode": "disabled"}})
        with console.status(f"{name}: RLlib sampling, 1 env runner x {sub_envs} sub-env(s)"):
            algo = build_algorithm_config(spec, "PPO", "per_role", seed=0).build_algo()
            try:
                rllib = measure_sampling(algo, args.steps)
            finally:
                algo.stop()
        figures[name] = {"standalone_env_steps_per_s": alone, "rllib_env_steps_per_s": rllib,
                         "rllib_share_of_standalone": rllib / alone, "agents": agents,
                         "sub_envs_per_runner": sub_envs, "env": env_spec, "encoder": encoder}
    ray.shutdown()

    table = Table(title="RLlib sampling against the standalone rollout of the same env")
    for col in ("env", "agents", "standalone env steps/s", "RLlib env steps/s (1 runner)",
                "share"):
        table.add_column(col)
    for name, f in figures.items():
        table.add_row(name, str(f["agents"]), f"{f['standalone_env_steps_per_s']:,.0f}",
                      f"{f['rllib_env_steps_per_s']:,.0f} ({f['sub_envs_per_runner']} sub-envs)",
                      f"{f['rllib_share_of_standalone']:.0%}")
    console.print(table)
    print(json.dumps({
        "benchmark": "sampling_throughput",
        "rllib_share_of_standalone": figures["quickstart"]["rllib_share_of_standalone"],
        "envs": figures, "steps": args.steps, "slate_policy": "PPO (initial weights)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))


if __name__ == "__main__":
    main()

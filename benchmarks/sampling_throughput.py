"""RLlib sampling throughput of the ecosystem against the standalone rollout of the same env.

The env: ``interest_evolution`` on the synthetic catalog (``--sessions`` sessions, slate 2
of 10, ``item_mean`` state, hashing encoder), the slate policy a freshly initialised PPO
module, users and providers scripted (non-trained modules in RLlib; the same behaviours in
the standalone rollout). Measured in one run:

- RLlib: ``EnvRunner.sample()`` on 1 and on 2 env runners (in parallel), env steps/s and
  agent steps/s (every live agent acts every env step);
- standalone: ``envs.rollout`` (the batched numpy path) with a random slate policy, on one core;
- ``framework_cost``: standalone env steps/s / RLlib env steps/s per runner.

Usage: ``python benchmarks/sampling_throughput.py [--steps 2000] [--sessions 8]``; the last
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def measure_sampling(algo, steps: int) -> dict[str, float]:
    """Env and agent steps/s of ``algo``'s remote env runners sampling ``steps`` env steps
    each, in parallel, after a 200-step warm-up."""

    def sample(runner, n):
        episodes = runner.sample(num_timesteps=n, random_actions=False)
        return sum(len(e) for e in episodes), sum(e.agent_steps() for e in episodes)

    group = algo.env_runner_group
    group.foreach_env_runner(lambda r: sample(r, 200), local_env_runner=False)
    started = time.perf_counter()
    counts = group.foreach_env_runner(lambda r: sample(r, steps), local_env_runner=False)
    elapsed = time.perf_counter() - started
    return {"env_steps_per_s": sum(c[0] for c in counts) / elapsed,
            "agent_steps_per_s": sum(c[1] for c in counts) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="env steps per runner")
    parser.add_argument("--sessions", type=int, default=8)
    args = parser.parse_args()

    import ray
    from rich.console import Console
    from rich.table import Table

    import envs
    from marlrec.algorithm_config import build_algorithm_config
    from marlrec.spec import parse_spec

    params = {"num_sessions": args.sessions, "num_candidates": 10, "slate_size": 2,
              "horizon": 200, "user_state": "item_mean"}
    console = Console()

    with console.status("standalone rollout"):
        env = envs.make_env("interest_evolution", **params)
        behaviours = envs.scripted_behaviours(env, "random")
        envs.rollout(env, behaviours, episodes=1)  # warm-up
        started = time.perf_counter()
        result = envs.rollout(env, behaviours, episodes=max(1, args.steps // 200))
        standalone = result.env_steps / (time.perf_counter() - started)
    agents = len(env.possible_agents)

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    rllib: dict[int, dict[str, float]] = {}
    for runners in (1, 2):
        spec = parse_spec({"name": "bench", "env": {"preset": "interest_evolution",
                                                    "params": params},
                           "resources": {"num_env_runners": runners},
                           "logging": {"wandb_mode": "disabled"}})
        with console.status(f"RLlib sampling, {runners} env runner(s)"):
            algo = build_algorithm_config(spec, "PPO", "per_role", seed=0).build_algo()
            rllib[runners] = measure_sampling(algo, args.steps)
            algo.stop()
    ray.shutdown()

    per_runner = rllib[1]["env_steps_per_s"]
    out = {
        "benchmark": "sampling_throughput",
        "standalone_env_steps_per_s": standalone,
        "standalone_agent_steps_per_s": standalone * agents,
        "rllib_1_runner_env_steps_per_s": rllib[1]["env_steps_per_s"],
        "rllib_1_runner_agent_steps_per_s": rllib[1]["agent_steps_per_s"],
        "rllib_2_runners_env_steps_per_s": rllib[2]["env_steps_per_s"],
        "rllib_2_runners_agent_steps_per_s": rllib[2]["agent_steps_per_s"],
        "framework_cost": standalone / per_runner,
        "scaling_2_runners": rllib[2]["env_steps_per_s"] / per_runner,
        "settings": {**params, "agents": agents, "steps_per_runner": args.steps,
                     "slate_policy": "PPO (initial weights)", "users": "choice model",
                     "providers": "static"},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    table = Table(title=f"Sampling the ecosystem ({agents} agents, {args.sessions} sessions)")
    for col in ("path", "env steps/s", "agent steps/s"):
        table.add_column(col)
    table.add_row("standalone rollout (1 core)", f"{standalone:,.0f}",
                  f"{standalone * agents:,.0f}")
    for runners, figures in rllib.items():
        table.add_row(f"RLlib, {runners} env runner(s)", f"{figures['env_steps_per_s']:,.0f}",
                      f"{figures['agent_steps_per_s']:,.0f}")
    console.print(table)
    console.print(f"framework cost: the standalone rollout is {out['framework_cost']:.0f}x "
                  "one RLlib env runner")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

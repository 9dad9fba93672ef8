"""How RLlib sampling of the ecosystem scales with env runners, and what limits it.

For each env-runner count (``--runners 1 2``): sampling throughput of all runners in
parallel (env steps/s), the scaling efficiency ``rate(n) / (n * rate(1))``, then two PPO
training iterations whose timers and encoder figures split an iteration into env
sampling, waiting for the encoder pool and the learner update: the largest is reported as
the bottleneck.

Here (2 CPUs): ``python benchmarks/scaling.py`` (1 and 2 runners, hashing encoder,
``item_mean`` states). On a GPU machine, the issue's run::

    python benchmarks/scaling.py --runners 1 4 8 14 --pool-replicas 2 --pool-gpus 0.25 \\
        --user-state text --learner-gpus 0.5 --cpus 16

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from sampling_throughput import measure_sampling

os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=1000, help="env steps per runner")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--user-state", default="item_mean",
                        choices=["item_mean", "text", "text_deferred"])
    parser.add_argument("--pool-replicas", type=int, default=0,
                        help="serve MiniLM from an encoder pool of this many replicas")
    parser.add_argument("--pool-gpus", type=float, default=0.0, help="GPU share per replica")
    parser.add_argument("--learner-gpus", type=float, default=0.0,
                        help="GPUs for the (local) learner")
    parser.add_argument("--cpus", type=int, default=None, help="ray.init num_cpus")
    args = parser.parse_args()

    import ray
    from rich.console import Console
    from rich.table import Table

    from marlrec.config.spec import parse_spec
    from marlrec.encoder.pool import EncoderPool
    from marlrec.training.rllib_config import build_algorithm_config

    console = Console()
    pooled = args.pool_replicas > 0
    params = {"num_sessions": args.sessions, "num_candidates": 10, "slate_size": 2,
              "horizon": 200, "user_state": args.user_state}
    ray.init(address="local", num_cpus=args.cpus or os.cpu_count(), include_dashboard=False,
             log_to_driver=False)
    pool_config = None
    if pooled:
        pool_config = {"num_replicas": args.pool_replicas, "num_gpus": args.pool_gpus,
                       "num_cpus": 0 if args.pool_gpus else 1, "name": "bench-pool"}
    rows: dict[int, dict[str, float]] = {}
    for runners in args.runners:
        raw = {"name": "scaling", "env": {"preset": "interest_evolution", "params": params,
                                          "encoder": "minilm" if pooled else "hashing"},
               "training": {"train_batch_size_per_learner": 200 * max(1, runners),
                            "minibatch_size": 200, "num_epochs": 1},
               "resources": {"num_env_runners": runners,
                             "num_gpus_per_learner": args.learner_gpus},
               "logging": {"wandb_mode": "disabled"}}
        if pooled:
            raw["encoder_pool"] = pool_config
        spec = parse_spec(raw)
        pool = EncoderPool(spec.encoder_pool) if pooled else None
        try:
            with console.status(f"{runners} env runner(s): sampling"):
                algo = build_algorithm_config(spec, "PPO", "per_role", seed=0,
                                              encoder=pool.client() if pool else None
                                              ).build_algo()
                rows[runners] = measure_sampling(algo, args.steps)
            with console.status(f"{runners} env runner(s): training iterations"):
                for _ in range(2):
                    result = algo.train()
                algo.stop()
        finally:
            if pool is not None:
                pool.shutdown()
        timers = result.get("timers", {})
        sampling = float(timers.get("env_runner_sampling_timer", 0.0))
        learner = float(timers.get("learner_update_timer", 0.0))
        wait_share = float(result["env_runners"].get("encoder/wait_share", 0.0))
        parts = {"env": sampling * (1 - wait_share), "encoder": sampling * wait_share,
                 "learner": learner}
        rows[runners].update({f"{k}_s_per_iteration": v for k, v in parts.items()})
        rows[runners]["bottleneck"] = max(parts, key=parts.get)
    ray.shutdown()

    base = rows[args.runners[0]]["env_steps_per_s"] / args.runners[0]
    for n, row in rows.items():
        row["scaling_efficiency"] = row["env_steps_per_s"] / (n * base)
    table = Table(title="Sampling scale-out (PPO, interest_evolution)")
    for col in ("env runners", "env steps/s", "efficiency", "env s/it", "encoder s/it",
                "learner s/it", "bottleneck"):
        table.add_column(col, justify="right")
    for n, row in rows.items():
        table.add_row(str(n), f"{row['env_steps_per_s']:,.0f}",
                      f"{row['scaling_efficiency']:.2f}", f"{row['env_s_per_iteration']:.2f}",
                      f"{row['encoder_s_per_iteration']:.2f}",
                      f"{row['learner_s_per_iteration']:.2f}", row["bottleneck"])
    console.print(table)
    print(json.dumps({
        "benchmark": "scaling", "runners": {str(n): r for n, r in rows.items()},
        "settings": {**params, "steps_per_runner": args.steps, "pool_replicas":
                     args.pool_replicas, "pool_gpus": args.pool_gpus,
                     "learner_gpus": args.learner_gpus},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))


if __name__ == "__main__":
    main()

"""The tiny experiment the tests of ``marlrec run`` share (test_run*.py)."""

from __future__ import annotations

from marlrec.config.spec import parse_spec

TINY = {"num_sessions": 2, "num_candidates": 4, "horizon": 20, "user_state": "item_mean",
        "num_items": 60, "num_providers": 3, "num_users": 50}
TRAINING = {"train_batch_size_per_learner": 200, "minibatch_size": 100, "num_epochs": 1}


def tiny_spec(results_dir, **extra):
    return parse_spec({
        "name": "tiny", "env": {"preset": "interest_evolution", "params": TINY},
        "training": TRAINING, "seeds": [0, 1], "stop": {"env_steps": 400},
        "evaluation": {"episodes": 2, "seed": 1000, "every_env_steps": 200,
                       "absolute_factor": 2},
        "resources": {"num_env_runners": 0},
        "logging": {"results_dir": str(results_dir), "checkpoint_every": 1,
                    "wandb_mode": "offline"}, **extra})


def movielens_spec(results_dir, evaluation: dict, **params):
    """:func:`tiny_spec` on MovieLens-100k (its own items, studios and users; ``params``
    override the env's), W&B off, with ``evaluation``."""
    env_params = {**TINY, "catalog": "movielens-100k", **params}
    for key in ("num_items", "num_providers", "num_users"):
        env_params.pop(key)
    spec = tiny_spec(results_dir, env={"preset": "interest_evolution", "params": env_params},
                     logging={"results_dir": str(results_dir), "wandb_mode": "disabled"})
    return parse_spec({**spec.to_dict(), "evaluation": evaluation})

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

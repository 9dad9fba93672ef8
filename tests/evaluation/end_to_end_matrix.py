"""The end-to-end matrix: every algorithm x sharing mode that the spec accepts, through
``marlrec run`` (training, evaluations during training, the report) and ``marlrec report``,
on a tiny budget (``test_end_to_end_matrix_*.py`` split the algorithms in two files of
about equal time, so two pytest workers share them).

The algorithm tests of ``tests/training/test_rllib_config.py`` train through ``build_algo()``;
this one goes through what a user runs, so an algorithm whose trained modules evaluation
cannot act with (DQN's module returns actions, not logits) fails here.
"""

from __future__ import annotations

import json
import math

import yaml

from marlrec.algorithms import ALGORITHMS
from marlrec.cli import main
from marlrec.config.spec import parse_spec

TINY = {"catalog": "synthetic", "num_sessions": 2, "num_candidates": 4, "slate_size": 2,
        "horizon": 15, "user_state": "item_mean", "num_items": 60, "num_providers": 3,
        "num_users": 50}
# Per algorithm: who learns (DQN: the Discrete roles only; SlateQ: the slate policy only)
# and a tiny training batch.
ROLES = {"policy": {"slate_policy": {"learned": True}, "user": {"learned": False},
                    "provider": {"learned": True}},
         "value": {"slate_policy": {"learned": False}, "user": {"learned": True},
                   "provider": {"learned": True}},
         "slate": {"slate_policy": {"learned": True}, "user": {"learned": False},
                   "provider": {"learned": False}}}
TRAINING = {"PPO": {"train_batch_size_per_learner": 60, "minibatch_size": 30, "num_epochs": 1},
            "APPO": {"train_batch_size_per_learner": 60},
            "IMPALA": {"train_batch_size_per_learner": 60},
            "DQN": {"train_batch_size_per_learner": 16,
                    "num_steps_sampled_before_learning_starts": 30},
            "SlateQ": {"train_batch_size_per_learner": 16,
                       "num_steps_sampled_before_learning_starts": 30}}
TRAINING["MAPPO"] = TRAINING["PPO"]
TRAINING["SlateQ-CTDE"] = TRAINING["SlateQ"]


def spec_of(algorithm: str, results_dir: str) -> dict:
    info = ALGORITHMS[algorithm]
    roles = ROLES["value" if not info.multi_discrete_actions
                  else "policy" if info.discrete_actions else "slate"]
    return {"name": f"matrix_{algorithm}", "env": {"preset": "full_ecosystem", "params": TINY},
            "roles": roles, "sharing": list(info.sharing_modes), "algorithms": [algorithm],
            "training": TRAINING[algorithm], "seeds": [0], "stop": {"env_steps": 60},
            "resources": {"num_env_runners": 0},
            "evaluation": {"episodes": 1, "absolute_factor": 1},
            "logging": {"results_dir": results_dir, "wandb_mode": "disabled",
                        "checkpoint_every": 50}}


def runs_and_reports(algorithm: str, tmp_path) -> None:
    """Runs ``algorithm``'s every sharing mode through ``marlrec run`` and ``marlrec report``."""
    raw = spec_of(algorithm, str(tmp_path / "results"))
    spec = parse_spec(raw)  # the spec accepts every sharing mode of this algorithm
    assert spec.sharing == list(ALGORITHMS[algorithm].sharing_modes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path)]) == 0

    folder = tmp_path / "results" / raw["name"]
    scores = json.loads((folder / "report" / "scores.json").read_text())
    learned = [f"{algorithm} {sharing}" for sharing in spec.sharing]
    assert set(learned) <= set(scores["absolute"])
    for name in learned:
        runs = scores["policies"][name]["runs"]
        assert len(runs) == len(spec.seeds)
        assert all(math.isfinite(e[spec.evaluation.metric]) for run in runs for e in run)
    # ``marlrec report`` on its own re-evaluates the saved modules on the same episodes
    before = scores["policies"]
    assert main(["report", str(folder)]) == 0
    again = json.loads((folder / "report" / "scores.json").read_text())
    assert again["policies"].keys() == before.keys()
    for name in learned:
        assert again["policies"][name]["runs"] == before[name]["runs"]


# the two test files' algorithms (about 8 minutes each on 2 cores, 2026-12-07)
SPLIT = (["APPO", "IMPALA", "MAPPO", "PPO"], ["DQN", "SlateQ", "SlateQ-CTDE"])

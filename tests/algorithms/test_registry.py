"""The algorithm registry: every algorithm's declarations match the installed RLlib, and its
consensus learner and greedy-action adapter resolve."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys

import pytest

from marlrec.algorithms import ALGORITHMS
from marlrec.algorithms.algorithm import import_path

pytest.importorskip("ray")


def rllib_training_keys(config_class: type) -> set[str]:
    return {name for cls in config_class.__mro__ if "training" in vars(cls)
            for name in inspect.signature(vars(cls)["training"]).parameters} - {"self", "kwargs"}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_declared_training_keys_are_the_installed_rllibs(name):
    """The spec validator checks `training:` keys without importing RLlib, against
    `Algorithm.training_keys`; an RLlib upgrade that changes `training()` fails here."""
    algorithm = ALGORITHMS[name]
    installed = rllib_training_keys(algorithm.config_class())
    if algorithm.module is not None:  # its own module: it refuses the keys it does not use
        assert set(algorithm.training_keys) <= installed, (
            f"{name}: declared but not in RLlib: {sorted(algorithm.training_keys - installed)}")
        return
    assert set(algorithm.training_keys) == installed, (
        f"{name}: declared but not in RLlib: {sorted(algorithm.training_keys - installed)}; "
        f"in RLlib but not declared: {sorted(installed - algorithm.training_keys)}")


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_classes_and_adapters_resolve(name):
    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
    from ray.rllib.core.learner.torch.torch_learner import TorchLearner

    from marlrec.algorithms.consensus import ConsensusPenalty, consensus_learner

    algorithm = ALGORITHMS[name]
    assert issubclass(algorithm.config_class(), AlgorithmConfig)
    base = import_path(algorithm.torch_learner)
    assert issubclass(base, TorchLearner)
    learner = consensus_learner(algorithm)
    assert issubclass(learner, ConsensusPenalty) and issubclass(learner, base)
    assert learner.__mro__[1] is ConsensusPenalty  # the penalty wraps the algorithm's loss
    assert consensus_learner(algorithm) is learner
    assert callable(algorithm.greedy_action())
    if algorithm.discrete_actions:
        assert algorithm.refused_roles(["user", "provider"]) == []


def test_consensus_learners_pickle_by_reference_into_a_fresh_process():
    """Ray ships the learner class to its actors: a fresh process must rebuild the same
    class from its name."""
    from marlrec.algorithms.consensus import consensus_learner

    learner = consensus_learner(ALGORITHMS["PPO"])
    payload = pickle.dumps(learner)
    code = ("import pickle, sys; cls = pickle.loads(sys.stdin.buffer.read()); "
            "print(cls.__module__, cls.__name__, [c.__name__ for c in cls.__mro__[1:3]])")
    out = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True,
                         check=True).stdout.decode()
    assert out.split() == ["marlrec.algorithms.consensus", "ConsensusPPOTorchLearner",
                           "['ConsensusPenalty',", "'PPOTorchLearner']"]
    assert consensus_learner(ALGORITHMS["MAPPO"]) is learner  # MAPPO trains with PPO's


def test_capabilities_say_which_roles_each_algorithm_learns():
    assert ALGORITHMS["DQN"].refused_roles(["slate_policy", "user"]) == ["slate_policy"]
    assert not ALGORITHMS["DQN"].on_policy and ALGORITHMS["PPO"].on_policy
    central = {"MAPPO", "SlateQ-CTDE"}
    assert all(ALGORITHMS[n].centralised_critic for n in central)
    assert not any(a.centralised_critic for n, a in ALGORITHMS.items() if n not in central)
    assert ALGORITHMS["DQN"].slate_actors == ("mlp",)
    assert ALGORITHMS["SlateQ"].refused_roles(["slate_policy", "user", "provider"]) == [
        "user", "provider"]

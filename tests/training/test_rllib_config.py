"""Spec -> RLlib config: every supported algorithm x sharing mode trains on a tiny config."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from marlrec.algorithms import ALGORITHMS  # noqa: E402
from marlrec.config.spec import SpecError, parse_spec  # noqa: E402
from marlrec.training.rllib_config import build_algorithm_config  # noqa: E402
from marlrec.training.sharing import SHARING_MODES, module_table  # noqa: E402

TINY = {"num_sessions": 2, "num_candidates": 4, "horizon": 20, "user_state": "item_mean",
        "num_items": 60, "num_providers": 3, "num_users": 50}


def tiny_spec(sharing: str, preset: str = "creator_economy", roles: dict | None = None,
              algorithms: tuple[str, ...] = ("PPO",)):
    return parse_spec({"name": "t", "env": {"preset": preset, "params": TINY},
                       "sharing": sharing, "resources": {"num_env_runners": 1},
                       "roles": roles or {}, "algorithms": list(algorithms),
                       "logging": {"wandb_mode": "disabled"}})


# Value-based algorithms cannot learn the slate policy's MultiDiscrete slates: script it.
SCRIPTED_SLATES = {"slate_policy": {"learned": False}}
# Slate-only algorithms (SlateQ) cannot learn the providers' Discrete releases: script them.
SCRIPTED_PROVIDERS = {"provider": {"learned": False}}


def test_module_tables_per_sharing_mode():
    env = envs.make_env("creator_economy", **TINY)
    learned = ["slate_policy", "provider"]
    independent = module_table(env, learned, "independent")
    assert independent["slate_policy_1"] == "slate_policy_1"
    assert not any(a.startswith("user_") for a in independent)  # scripted: not in RLlib
    per_role = module_table(env, learned, "per_role")
    assert set(per_role.values()) == {"slate_policy", "provider"}
    shared = module_table(env, learned, "shared")
    assert shared["slate_policy_0"] == shared["slate_policy_1"] != shared["provider_0"]
    assert len(set(shared.values())) == 2


def combinations() -> list:
    """Every algorithm x sharing mode; those of the asynchronous algorithms (IMPALA, APPO:
    30-100 s each on 2 busy cores) are slow tests but ``per_role``, so the fast suite trains
    every algorithm once and CI every combination (the end-to-end matrix too)."""
    out = []
    for sharing in SHARING_MODES:
        for algorithm in sorted(ALGORITHMS):
            slow = algorithm in ("IMPALA", "APPO") and sharing != "per_role"
            out.append(pytest.param(algorithm, sharing, id=f"{sharing}-{algorithm}",
                                    marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize(("algorithm", "sharing"), combinations())
def test_every_supported_combination_trains(local_ray, algorithm, sharing):
    training = {"train_batch_size_per_learner": 120}
    reporting = {"min_time_s_per_iteration": 1}
    info = ALGORITHMS[algorithm]  # settings by capability: a new algorithm needs no edit here
    if sharing not in info.sharing_modes:
        pytest.skip(f"{algorithm} does not support sharing {sharing!r} (refused by the spec)")
    roles = (SCRIPTED_SLATES if not info.multi_discrete_actions
             else SCRIPTED_PROVIDERS if not info.discrete_actions else None)
    if info.on_policy:
        training.update(minibatch_size=60, num_epochs=1)
    if "replay_buffer_config" in info.training_keys:  # learns from a replay buffer
        training = {"train_batch_size_per_learner": 32,
                    "num_steps_sampled_before_learning_starts": 40}
        reporting["min_sample_timesteps_per_iteration"] = 60
    spec = tiny_spec(sharing, roles=roles, algorithms=(algorithm,))
    config = build_algorithm_config(spec, algorithm, sharing, seed=0)
    if not hasattr(config, "vtrace"):  # synchronous: an iteration ends with its train batch
        reporting["min_time_s_per_iteration"] = 0
    config = config.training(**training).reporting(**reporting)
    learned = spec.learned_roles
    table = module_table(envs.make_env("creator_economy", **TINY), learned, sharing)
    expected = {m for a, m in table.items() if a.rsplit("_", 1)[0] in learned}
    # The asynchronous algorithms (IMPALA, APPO) train in a learner thread and report each
    # module when an update of it has finished: in any later iteration, and not every
    # module in the same one. Train until every expected module has reported training in
    # some iteration and the env runners have reported the ecosystem's episode metrics.
    # The safety bound counts env steps sampled, not iterations or seconds: an iteration of
    # an asynchronous algorithm ends after min_time_s_per_iteration whether or not anything
    # was sampled or trained (IMPALA's first ~15 here return nothing while its env runner
    # starts; more on a busy machine). Trained modules showed up after 120-350 env steps;
    # a module that has not trained after 500 train batches is not mapped or not learning.
    bound = 500 * config.train_batch_size_per_learner
    trained: set[str] = set()
    ecosystem = None
    sampled = 0
    algo = config.build_algo()
    try:
        while not (trained >= expected and ecosystem is not None):
            assert sampled < bound, (
                f"after {sampled} env steps sampled: modules {sorted(expected - trained)} "
                f"never trained, episode metrics {'seen' if ecosystem else 'never seen'}")
            result = algo.train()
            trained |= {m for m, stats in result.get("learners", {}).items()
                        if m != "__all_modules__" and stats.get("num_module_steps_trained", 0)}
            runners = result.get("env_runners", {})
            ecosystem = runners.get("ecosystem", ecosystem)  # the env's episode metrics
            sampled = max(sampled, runners.get("num_env_steps_sampled_lifetime", 0))
    finally:
        algo.stop()
    assert trained == expected  # and no module that should not learn
    assert sampled > 0
    assert 0 <= ecosystem["ctr"] <= 1 and ecosystem["engagement_per_session"] >= 0


def test_an_algorithm_that_cannot_learn_a_role_is_refused():
    spec = tiny_spec("per_role")  # learns the slate policy (MultiDiscrete)
    with pytest.raises(ValueError, match=r"DQN cannot learn role\(s\) \['slate_policy'\]"):
        build_algorithm_config(spec, "DQN", "per_role", seed=0)


def test_unknown_algorithm_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="algorithm 'SAC' is not one of"):
        build_algorithm_config(tiny_spec("per_role"), "SAC", "per_role", seed=0)


# ----------------------------------------------------------------------------- consensus


def test_consensus_terms_by_hand():
    import torch

    from marlrec.algorithms.consensus import consensus_terms

    a = [torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([[0.0]], requires_grad=True)]
    b = [torch.tensor([3.0, 2.0], requires_grad=True), torch.tensor([[2.0]], requires_grad=True)]
    squared, distance = consensus_terms([a, b])
    # Means [2, 2] and [[1]]: a is (1 - 2)^2 + 0 + (0 - 1)^2 = 2 away, b (3 - 2)^2 + (2 - 1)^2 = 2.
    assert [float(s) for s in squared] == [2.0, 2.0]
    assert float(distance) == pytest.approx(2.0**0.5)
    squared[0].backward()  # the mean is detached: d/d theta = 2 (theta - mean)
    assert a[0].grad.tolist() == [-2.0, 0.0] and a[1].grad.tolist() == [[-2.0]]
    assert b[0].grad is None


def _distance_to_role_mean(algo, modules: list[str]) -> float:
    import torch

    from marlrec.algorithms.consensus import consensus_terms

    params = [[p.detach() for p in algo.get_module(m).parameters()] for m in modules]
    return float(consensus_terms([[torch.as_tensor(p) for p in ps] for ps in params])[1])


def test_consensus_pulls_modules_together_compared_with_independent(local_ray):
    slates = ["slate_policy_0", "slate_policy_1"]
    shrink = {}
    for sharing in ("independent", "consensus"):
        spec = parse_spec({
            "name": "t", "env": {"preset": "interest_evolution", "params": TINY},
            "sharing": sharing, "consensus_strength": 10.0, "algorithms": ["PPO"],
            "training": {"train_batch_size_per_learner": 200, "minibatch_size": 50,
                         "num_epochs": 2},
            "resources": {"num_env_runners": 0}, "logging": {"wandb_mode": "disabled"}})
        algo = build_algorithm_config(spec, "PPO", sharing, seed=0).build_algo()
        try:
            before = _distance_to_role_mean(algo, slates)
            for _ in range(3):
                result = algo.train()
            after = _distance_to_role_mean(algo, slates)
        finally:
            algo.stop()
        shrink[sharing] = after / before
        logged = result["learners"]["__all_modules__"]
        assert ("consensus_distance/slate_policy" in logged) == (sharing == "consensus")
    assert shrink["consensus"] < 1.0
    assert shrink["consensus"] < shrink["independent"]


def test_consensus_strength_must_be_positive():
    with pytest.raises(SpecError,
                       match=r"experiment.consensus_strength: 0.0 must be > 0"):
        parse_spec({"name": "t", "sharing": "consensus", "consensus_strength": 0.0})

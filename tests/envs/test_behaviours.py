"""The behaviour registry (envs.behaviours.BEHAVIOURS) and its worked example, most_diverse."""

from __future__ import annotations

import numpy as np
import pytest

import envs
from envs.behaviours import (
    BEHAVIOURS,
    DEFAULT_BEHAVIOURS,
    ROLE_BEHAVIOURS,
    SLATE_BASELINES,
    BehaviourInfo,
    MostDiverse,
    _registry,
)
from envs.observation import CANDIDATE_FEATURES

SMALL = {"num_sessions": 3, "num_candidates": 6, "slate_size": 3, "horizon": 15}
SMALL_RECSIM = {"num_candidates": 6, "slate_size": 3, "horizon": 15, "num_items": 300,
                "num_users": 50}


def small_env(preset: str = "interest_evolution", **overrides):
    small = SMALL_RECSIM if preset == "recsim_interest_evolution" else SMALL
    return envs.make_env(preset, **{**small, **overrides})


# ----------------------------------------------------------------------------- registry


def test_the_public_tables_are_derived_from_the_registry():
    assert set(ROLE_BEHAVIOURS) == set(envs.ROLES)
    for role, names in ROLE_BEHAVIOURS.items():
        assert names == tuple(n for n, info in BEHAVIOURS.items() if info.role == role)
    assert tuple(SLATE_BASELINES) == ROLE_BEHAVIOURS["slate_policy"]
    assert all(SLATE_BASELINES[n] is BEHAVIOURS[n].cls for n in SLATE_BASELINES)
    assert envs.ROLE_BEHAVIOURS is ROLE_BEHAVIOURS and envs.BEHAVIOURS is BEHAVIOURS
    # the names specs and the CLI accepted before the registry are all still there
    assert {"random", "popularity", "greedy_by_appeal", "greedy_by_similarity",
            "greedy_by_quality"} <= set(ROLE_BEHAVIOURS["slate_policy"])
    assert ROLE_BEHAVIOURS["user"] == ("choice_model",)
    assert ROLE_BEHAVIOURS["provider"] == ("static", "follow_the_trend")
    assert all(DEFAULT_BEHAVIOURS[r] in ROLE_BEHAVIOURS[r] for r in envs.ROLES)


def test_every_entry_is_complete_and_named_by_its_key():
    for name, info in BEHAVIOURS.items():
        assert isinstance(info, BehaviourInfo) and info.name == name
        assert info.role in envs.ROLES and info.description
        assert all(p.startswith(("config.", "catalog.")) for p in info.parameters)


def test_privileged_marks_the_behaviours_that_read_state_their_role_does_not_observe():
    privileged = {name for name, info in BEHAVIOURS.items() if info.privileged}
    assert privileged == {"greedy_by_quality"}  # reads the hidden item quality
    for info in BEHAVIOURS.values():  # reading the env itself is privileged
        if hasattr(info.cls, "act_with_env"):
            assert info.privileged, info.name


def test_names_are_unique_across_roles_and_roles_are_checked():
    def build(env):
        return None

    with pytest.raises(ValueError, match="'static' is registered twice.*'provider' and 'user'"):
        _registry(BehaviourInfo("static", "provider", object, build, (), False, "a"),
                  BehaviourInfo("static", "user", object, build, (), False, "b"))
    with pytest.raises(ValueError, match=r"role='critic' is not one of \['slate_policy', "):
        BehaviourInfo("x", "critic", object, build, (), False, "x")


@pytest.mark.parametrize("preset", sorted(envs.PRESETS))
@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_every_behaviour_builds_for_every_preset_and_acts_in_a_seeded_rollout(preset, name):
    env = small_env(preset)
    info = BEHAVIOURS[name]
    assert any(env.role_of(a) == info.role for a in env.possible_agents)
    behaviours = {**envs.scripted_behaviours(env), info.role: envs.role_behaviour(
        env, info.role, name)}
    assert isinstance(behaviours[info.role], info.cls)
    first = envs.rollout(env, behaviours, episodes=1, seed=3)
    again = envs.rollout(env, {**envs.scripted_behaviours(env), info.role: info.build(env)},
                         episodes=1, seed=3)
    assert first.env_steps > 0
    assert first.episode_metrics == again.episode_metrics  # same seed, same numbers
    assert first.episode_metrics[0]["duplicate_slate_items"] == 0


@pytest.mark.parametrize(("role", "name", "allowed"), [
    ("slate_policy", "greedy_by_nothing", "['random', 'popularity', 'greedy_by_appeal'"),
    ("user", "static", "['choice_model']"),
    ("provider", "random", "['static', 'follow_the_trend']"),
])
def test_role_behaviour_refuses_an_unknown_name_naming_role_value_and_allowed(role, name,
                                                                              allowed):
    env = small_env()
    with pytest.raises(ValueError) as err:
        envs.role_behaviour(env, role, name)
    message = str(err.value)
    assert f"{role} behaviour {name!r} is not one of {allowed}" in message
    with pytest.raises(ValueError, match=r"role='critic' is not one of \['slate_policy', "
                                         r"'user', 'provider'\]"):
        envs.role_behaviour(env, "critic", "static")


def test_scripted_behaviours_reads_the_registry_and_names_what_is_allowed():
    env = small_env("creator_economy")
    chosen = envs.scripted_behaviours(env, "most_diverse", provider="follow_the_trend")
    assert list(chosen) == ["slate_policy", "user", "provider"]
    assert [type(b).__name__ for b in chosen.values()] == ["MostDiverse", "ChoiceModelUser",
                                                           "FollowTheTrend"]
    assert chosen["provider"].num_topics == env.catalog.num_topics
    with pytest.raises(ValueError, match=r"slate_policy='best'; allowed: \['greedy_by_appeal'"):
        envs.scripted_behaviours(env, "best")
    with pytest.raises(ValueError, match=r"provider='lazy'; allowed: \['follow_the_trend', "
                                         r"'static'\]"):
        envs.scripted_behaviours(env, provider="lazy")


# ----------------------------------------------------------------------------- most_diverse


def test_most_diverse_is_a_registered_unprivileged_slate_baseline():
    info = BEHAVIOURS["most_diverse"]
    assert (info.role, info.cls, info.privileged) == ("slate_policy", MostDiverse, False)
    assert info.parameters == ("config.slate_size",)
    assert SLATE_BASELINES["most_diverse"] is MostDiverse
    assert "most_diverse" in ROLE_BEHAVIOURS["slate_policy"]


def _observation(vectors, appeal):
    vectors = np.asarray(vectors, np.float32)
    features = np.zeros((*vectors.shape[:-1], len(CANDIDATE_FEATURES)), np.float32)
    features[..., CANDIDATE_FEATURES.index("appeal")] = appeal
    return {"candidates": vectors, "candidate_features": features,
            "user_state": np.zeros(vectors.shape[-1], np.float32)}


def test_most_diverse_on_a_hand_built_observation():
    # 0: east, 1: east (a near duplicate of 0, the most appealing), 2: north, 3: west,
    # 4: zero vector (distance 1 from everything)
    vectors = [[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [-1.0, 0.0], [0.0, 0.0]]
    appeal = [0.5, 2.0, 0.0, -1.0, 0.1]
    behaviour = MostDiverse(slate_size=4)
    # anchor 1 (highest appeal); then 3 (opposite, distance ~2); then the largest mean
    # distance to {1, 3}: 0 -> (0.005 + 2) / 2 ~ 1.0025, 2 -> (0.9 + 1) / 2 = 0.95,
    # 4 -> 1.0: so 0; then {1, 3, 0}: 2 -> (0.9 + 1 + 1) / 3 ~ 0.967 < 4 -> 1.0: so 4
    assert behaviour(_observation(vectors, appeal)).tolist() == [1, 3, 0, 4]
    # a batch of two rows: the second anchored elsewhere, ties to the lowest position
    batch = _observation([vectors, [[1, 0], [0, 1], [0, 1], [1, 0], [0, 1]]],
                         [appeal, [0.0, 0.0, 0.0, 0.0, 0.0]])
    slates = behaviour.act_batch(batch, np.random.default_rng(0))
    assert slates.tolist() == [[1, 3, 0, 4], [0, 1, 2, 3]]
    assert slates.dtype.kind == "i"


def test_most_diverse_needs_the_candidate_vectors():
    obs = _observation([[1.0, 0.0], [0.0, 1.0]], [0.0, 1.0])
    del obs["candidates"]
    with pytest.raises(ValueError, match="user_state='id'"):
        MostDiverse(1)(obs)


def test_most_diverse_slates_have_no_duplicates_on_real_observations():
    env = small_env(num_sessions=4, num_candidates=8, slate_size=5)
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    behaviour = envs.role_behaviour(env, "slate_policy", "most_diverse")
    for agent in (a for a in env.agents if env.role_of(a) == "slate_policy"):
        slate = behaviour(obs[agent], rng)
        assert len(set(slate.tolist())) == 5 and slate.min() >= 0 and slate.max() < 8


def test_most_diverse_beats_greedy_by_appeal_on_intra_list_diversity():
    env = envs.make_env("interest_evolution", num_sessions=4)
    means = {name: envs.rollout(env, envs.scripted_behaviours(env, name), episodes=3,
                                seed=0).mean_metrics()
             for name in ("most_diverse", "greedy_by_appeal")}
    assert means["most_diverse"]["intra_list_diversity"] \
        > means["greedy_by_appeal"]["intra_list_diversity"]
    assert means["most_diverse"]["duplicate_slate_items"] == 0

"""Session intents: drawn from the user's interest, they pull the session's interest toward
the intent's topic, and with intent="on" the slate policy observes the encoded text."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import envs
from envs.encoding import unit_rows
from envs.intents import INTENT_SHARPNESS, MOODS, IntentVocabulary

SMALL = {"num_sessions": 8, "num_candidates": 6, "horizon": 40, "user_state": "item_mean"}


def test_session_interest_is_pulled_toward_the_intent_topic():
    env = envs.make_env("interest_evolution", intent="hidden", **SMALL)
    env.reset(seed=3)
    w = env.config.user_model.intent_weight
    base = env.population.interest[env.session_users]
    topics = env.intents.centroid_of(env._intent)
    np.testing.assert_allclose(env._interest, unit_rows((1 - w) * base + w * topics),
                               atol=1e-6)
    for text, i in zip(env.session_intents, env._intent, strict=True):
        topic = env.catalog.topic_names[env.intents.topics[i // len(MOODS)]]
        assert text == f"Something {MOODS[i % len(MOODS)]} for tonight: {topic}."
    still = envs.make_env("interest_evolution", intent="hidden",
                          user_model={"intent_weight": 0.0}, **SMALL)
    still.reset(seed=3)
    np.testing.assert_allclose(still._interest, still.population.interest[still.session_users],
                               atol=1e-6)


def test_intent_topics_follow_the_softmax_of_interest():
    env = envs.make_env("interest_evolution", intent="hidden", **SMALL)
    vocabulary: IntentVocabulary = env.intents
    interest = env.population.interest[:1]
    draws = vocabulary.draw(np.repeat(interest, 40_000, 0), np.random.default_rng(0))
    logits = INTENT_SHARPNESS * interest[0] @ vocabulary.centroids.T
    expected = np.exp(logits - logits.max())
    expected /= expected.sum()
    observed = np.bincount(draws // len(MOODS), minlength=len(vocabulary.topics)) / 40_000
    np.testing.assert_allclose(observed, expected, atol=0.01)
    moods = np.bincount(draws % len(MOODS), minlength=len(MOODS)) / 40_000
    np.testing.assert_allclose(moods, 1 / len(MOODS), atol=0.01)


def test_the_slate_policy_observes_the_encoded_intent_only_when_on():
    on = envs.make_env("interest_evolution", intent="on", **SMALL)
    hidden = envs.make_env("interest_evolution", intent="hidden", **SMALL)
    assert "intent" in on.observation_space("slate_policy_0").spaces
    assert "intent" not in hidden.observation_space("slate_policy_0").spaces
    obs, _ = on.reset(seed=1)
    expected = unit_rows(on.encoder([on.session_intents[0]]) - on.state_centre)[0]
    np.testing.assert_allclose(obs["slate_policy_0"]["intent"], on.to_observation_basis(expected),
                               atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(on, num_cycles=40)
    parallel_seed_test(lambda: envs.make_env("interest_evolution", intent="on", **SMALL))


def test_a_heard_intent_raises_the_intent_aware_greedy_policys_engagement():
    sizes = {"num_sessions": 16, "num_candidates": 10, "horizon": 100,
             "user_state": "item_mean"}
    engagement = {}
    for mode in ("hidden", "on"):  # the same users, intents and candidates in both modes
        env = envs.make_env("interest_evolution", intent=mode, **sizes)
        behaviours = envs.scripted_behaviours(env, "greedy_by_similarity")
        result = envs.rollout(env, behaviours, episodes=30, seed=0)
        engagement[mode] = result.mean_metrics()["engagement_per_session"]
    assert engagement["on"] > engagement["hidden"]


def test_yaml_on_and_off_are_intent_modes():
    assert envs.make_env("interest_evolution", intent=True, **SMALL).config.intent == "on"
    assert envs.make_env("interest_evolution", intent=False, **SMALL).config.intent == "off"


def test_bad_intent_settings_are_refused():
    with pytest.raises(ValueError, match=r"intent='sometimes' is not one of \('off', "
                                         r"'hidden', 'on'\)"):
        envs.make_env("interest_evolution", intent="sometimes")
    with pytest.raises(ValueError, match="intent='on' needs a text catalog"):
        envs.make_env("recsim_interest_evolution", intent="on")
    with pytest.raises(ValueError, match=r"user_model.intent_weight=1.5 must be in \[0, 1\]"):
        envs.make_env("interest_evolution", user_model={"intent_weight": 1.5})
    with pytest.raises(ValueError, match="sessions carry no intent"):
        envs.make_env("interest_evolution", **SMALL).session_intents  # noqa: B018


def test_the_candidate_scoring_actor_reads_the_intent():
    import gymnasium as gym
    import torch

    from marlrec.algorithms.actor_critic import build_actor_critic

    env = envs.make_env("interest_evolution", intent="on", **SMALL)
    space = env.observation_space("slate_policy_0")
    module = build_actor_critic(space, env.action_space("slate_policy_0"),
                                {"slate_actor": "candidate_scoring", "scorer_hiddens": [16]})
    assert module.actor.has_intent
    obs, _ = env.reset(seed=0)
    one = dict(obs["slate_policy_0"])
    other = {**one, "intent": -one["intent"]}
    outs = []
    for o in (one, other):
        flat = torch.as_tensor(gym.spaces.flatten(space, o)[None])
        with torch.no_grad():
            outs.append(module.forward_inference({"obs": flat})["action_dist_inputs"])
    assert not torch.allclose(outs[0], outs[1])

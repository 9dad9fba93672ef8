"""Explanations: integrated-gradients attributions add up, point at what the scorer reads,
their faithfulness check measures what it says, and explanations read as sentences."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from envs.ecosystem import candidate_feature_names
from envs.observation import flatten_batch
from marlrec.algorithms.actor_critic import build_actor_critic
from marlrec.evaluation.explanations import (
    attribute,
    explain_policy,
    explanations_markdown,
    faithfulness,
    wilson,
)
from marlrec.evaluation.learned_behaviour import LearnedBehaviour

SMALL = {"num_sessions": 4, "num_candidates": 6, "slate_size": 2, "horizon": 30,
         "user_state": "item_mean"}


def env_and_module(seed: int = 0, **overrides):
    env = envs.make_env("interest_evolution", **{**SMALL, **overrides})
    space = env.observation_space("slate_policy_0")
    torch.manual_seed(seed)
    module = build_actor_critic(space, env.action_space("slate_policy_0"))
    return env, module, space


def observations(env, space, steps=10):
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    behaviours = envs.scripted_behaviours(env, "random")
    flats = []
    for _ in range(steps):
        obs = env.role_observations()
        flats.append(flatten_batch(obs["slate_policy"], space))
        actions = [behaviours[r].act_batch(obs[r], rng) for r in envs.ROLES]
        env.step_arrays(*actions)
    return torch.from_numpy(np.concatenate(flats))


def test_attributions_add_up_to_the_score_minus_the_baseline_score():
    env, module, space = env_and_module()
    own = observations(env, space)
    names = candidate_feature_names(env.config)
    result = attribute(module, own, names)
    assert result.attributions.shape == (own.shape[0], len(result.groups))
    assert result.groups[:3] == ["item embedding", "user state", "user x item"]
    assert set(names) < set(result.groups) and "session" in result.groups
    spread = np.abs(result.attributions).sum(axis=1).mean()
    assert result.completeness_error.max() < 0.02 * spread + 1e-4
    logits = module.actor(own).reshape(own.shape[0], 2, -1)[:, 0]  # the first slot
    assert np.array_equal(result.chosen, logits.argmax(dim=1).numpy())


def test_a_scorer_that_reads_one_feature_is_attributed_to_it_and_faithfully_so():
    """Only appeal reaches the scores: attributions name appeal, removing it changes the
    top recommendation whenever another candidate then wins, a random group never does."""
    env, module, space = env_and_module()
    actor = module.actor
    names = candidate_feature_names(env.config)
    appeal = actor.input_groups(names)["appeal"].start
    with torch.no_grad():
        first = actor.scorer[0]
        first.weight.zero_()
        first.bias.zero_()
        first.weight[:, appeal] = torch.linspace(0.5, 1.5, first.weight.shape[0])
    own = observations(env, space)
    result = attribute(module, own, names)
    top = {result.groups[i] for i in result.attributions.argmax(axis=1)}
    assert top == {"appeal"}
    figures = faithfulness(module, result, names)
    assert figures["random_group_changes"][0] == 0.0
    assert figures["top_group_changes"][0] > 0.5
    assert figures["top_groups"] == {"appeal": own.shape[0]}


def test_wilson_intervals():
    assert wilson(0, 0)[0] != wilson(0, 0)[0]  # NaN without decisions
    p, low, high = wilson(50, 100)
    assert p == 0.5 and low == pytest.approx(0.404, abs=1e-3) and high == pytest.approx(
        0.596, abs=1e-3)
    assert wilson(0, 10)[1] == pytest.approx(0.0) and wilson(10, 10)[2] == pytest.approx(1.0)


def test_explained_sessions_name_recent_titles_and_the_top_group():
    env, module, space = env_and_module()
    behaviour = LearnedBehaviour(module, space, "slate_policy")
    behaviours = {**envs.scripted_behaviours(env), "slate_policy": behaviour}
    result = explain_policy(env, behaviours, episodes=1, seed=5, sessions=2, steps=6)
    assert result["faithfulness"]["decisions"] == SMALL["num_sessions"] * SMALL["horizon"]
    examples = result["examples"]
    assert {e["slot"] for e in examples} == {0, 1} and len(examples) == 12
    assert all(len(e["slate"]) == 2 and len(set(e["slate"])) == 2 for e in examples)
    texts = [e["explanation"] for e in examples]
    assert all(t.startswith(e["slate"][0] + ": ") for t, e in zip(texts, examples,
                                                                    strict=True))
    assert any("because you watched" in t for t in texts)
    assert any("new here, from your profile" in t for t in texts)  # each session's start
    text = explanations_markdown("PPO per_role", result)
    assert "### PPO per_role" in text and "Wilson 95% intervals" in text


def test_a_module_without_a_candidate_scoring_actor_cannot_be_explained():
    env = envs.make_env("interest_evolution", **SMALL)
    space = env.observation_space("slate_policy_0")
    module = build_actor_critic(space, env.action_space("slate_policy_0"),
                                {"slate_actor": "mlp"})
    flat = torch.zeros((2, gym.spaces.flatdim(space)))
    with pytest.raises(TypeError, match="explanations need model.slate_actor: "
                                        "candidate_scoring"):
        attribute(module, flat, candidate_feature_names(env.config))

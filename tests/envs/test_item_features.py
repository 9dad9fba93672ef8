"""Item attributes from several modalities: the feature builder's columns, the env's
``candidate_attributes`` observation and the candidate-scoring actor reading it."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import torch
from pettingzoo.test import parallel_api_test

import envs
from envs.item_features import ItemFeatureBuilder


def test_movielens_attributes_are_genres_year_popularity_and_provider(movielens_data):
    data = movielens_data
    catalog = envs.movielens_catalog(data)
    builder = ItemFeatureBuilder(catalog)
    names = list(builder.names)
    x = builder.build(np.arange(catalog.num_items), catalog.provider)
    assert x.shape == (catalog.num_items, builder.size) and x.min() >= 0 and x.max() <= 1
    genres = [n for n in names if n.startswith("genre:")]
    assert len(genres) == len({g for item in data.genres for g in item})
    toy_story = x[0]  # "Toy Story (1995)": Animation, Children's, Comedy
    assert {names[i] for i in np.flatnonzero(toy_story[: len(genres)])} == {
        "genre:Animation", "genre:Children's", "genre:Comedy"}
    known = data.years[data.years > 0]
    expected_year = (1995 - known.min()) / (known.max() - known.min())
    assert toy_story[names.index("year")] == np.float32(expected_year)
    unknown = np.flatnonzero(data.years == 0)
    assert unknown.size and (x[unknown, names.index("year_unknown")] == 1).all()
    assert (x[unknown, names.index("year")] == 0).all()
    popularity = x[:, names.index("popularity")]
    order = np.argsort(catalog.prior_popularity, kind="stable")
    assert (np.diff(popularity[order]) >= -1e-7).all() and popularity.max() == 1.0
    providers = x[:, names.index(f"provider:{catalog.provider_names[0]}"):]
    np.testing.assert_array_equal(providers.argmax(axis=1), catalog.provider)
    assert (providers.sum(axis=1) == 1).all()
    moved = catalog.provider.copy()
    moved[0] = (moved[0] + 1) % catalog.num_providers  # a release changed the owner
    assert builder.build(np.array([0]), moved)[0, names.index(
        f"provider:{catalog.provider_names[moved[0]]}")] == 1.0


def test_synthetic_attributes_use_the_topic_as_genre_and_have_no_year():
    catalog = envs.synthetic_catalog(50, 5, 3, seed=0)
    builder = ItemFeatureBuilder(catalog)
    x = builder.build(np.arange(50), catalog.provider)
    hot = [builder.names[i] for i in x[:, :5].argmax(axis=1)]
    assert hot == [f"genre:{catalog.topic_names[t]}" for t in catalog.topic]
    assert (x[:, :5].sum(axis=1) == 1).all()
    assert (x[:, list(builder.names).index("year_unknown")] == 1).all()


def test_env_observes_candidate_attributes_and_the_actor_reads_them():
    from marlrec.algorithms.actor_critic import build_actor_critic

    env = envs.make_env("creator_economy", num_sessions=2, num_candidates=5, horizon=30,
                        user_state="item_mean", item_attributes=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=30)
    obs, _ = env.reset(seed=0)
    space = env.observation_space("slate_policy_0")
    attributes = obs["slate_policy_0"]["candidate_attributes"]
    assert space["candidate_attributes"].contains(attributes)
    np.testing.assert_array_equal(attributes, env.item_features.build(
        env.candidate_items[0], env.market.owner))

    module = build_actor_critic(space, env.action_space("slate_policy_0"),
                                {"slate_actor": "candidate_scoring", "scorer_hiddens": [16]})
    assert module.actor.num_attributes == env.item_features.size
    one = {k: np.asarray(v)[None] for k, v in obs["slate_policy_0"].items()}
    other = {k: v.copy() for k, v in one.items()}
    other["candidate_attributes"][0, 2] = 1.0 - other["candidate_attributes"][0, 2]

    def logits(batch):
        flat = gym.spaces.flatten(space, {k: v[0] for k, v in batch.items()})
        with torch.no_grad():
            return module.forward_inference({"obs": torch.as_tensor(flat[None])})[
                "action_dist_inputs"][0, :5]

    first, second = logits(one), logits(other)
    assert not torch.isclose(first[2], second[2])  # candidate 2's attributes changed
    torch.testing.assert_close(first[[0, 1, 3, 4]], second[[0, 1, 3, 4]])  # the others not

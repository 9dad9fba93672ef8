"""The MovieLens simulator is built from its training ratings only: the held-out ratings,
which the offline ranking scores, shape nothing the learned policies train on; the offline
ranking and the collaborative-filtering baseline read the env's own split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import envs
from envs.movielens import (
    GROUPLENS_FILES,
    RECBOLE_FILES,
    RatingSplit,
    heldout_split,
    load_movielens_100k,
    movielens_dir,
    movielens_layout,
)

ENV = {"catalog": "movielens-100k", "num_sessions": 4, "num_candidates": 6, "slate_size": 2,
       "horizon": 40, "user_state": "item_mean",
       # warm users start their sessions with their past: the prior histories play a part
       "cold_start": {"user_share": 0.2, "item_share": 0.2, "include_cold": True}}


def _copy_with_other_held_out_ratings(source: Path, dest: Path, held_out: np.ndarray) -> None:
    """Copies the MovieLens folder ``source`` to ``dest``, the rating rows in ``held_out``
    given other stars (``r % 5 + 1``) and times (a year later); the other rows unchanged."""
    recbole = movielens_layout(source) == "recbole"
    names = RECBOLE_FILES if recbole else GROUPLENS_FILES
    dest.mkdir(parents=True)
    for name in names[1:]:
        (dest / name).write_bytes((source / name).read_bytes())
    encoding = "utf-8" if recbole else "latin-1"
    lines = (source / names[0]).read_text(encoding).split("\n")
    header = [f.split(":")[0] for f in lines[0].split("\t")] if recbole else None
    c_rating, c_time = (header.index("rating"), header.index("timestamp")) if header else (2, 3)
    row = 0
    for number in range(1 if recbole else 0, len(lines)):
        if not lines[number].strip():
            continue
        if held_out[row]:
            fields = lines[number].split("\t")
            fields[c_rating] = str(int(float(fields[c_rating])) % 5 + 1)
            fields[c_time] = str(int(float(fields[c_time])) + 365 * 24 * 3600)
            lines[number] = "\t".join(fields)
        row += 1
    assert row == held_out.size
    (dest / names[0]).write_text("\n".join(lines), encoding)


@pytest.fixture(scope="module")
def altered_data_dir(movielens_data, tmp_path_factory) -> Path:
    """A data folder whose MovieLens-100k is the fetched one with every held-out rating of
    the env's default split (holdout 0.2, holdout_seed 0) changed: other stars, later."""
    data_dir = tmp_path_factory.mktemp("altered")
    _copy_with_other_held_out_ratings(movielens_dir(), movielens_dir(data_dir),
                                      ~heldout_split(movielens_data, 0.2, 0))
    return data_dir


def _rollouts(env: envs.RecEcosystemEnv) -> envs.RolloutResult:
    return envs.rollout(env, envs.scripted_behaviours(env), episodes=2, seed=3)


def test_the_altered_copy_differs_in_the_held_out_ratings_only(movielens_data,
                                                               altered_data_dir):
    altered = load_movielens_100k(movielens_dir(altered_data_dir))
    held_out = ~heldout_split(movielens_data, 0.2, 0)
    for column in ("rating_value", "rating_time"):
        changed = getattr(altered, column) != getattr(movielens_data, column)
        np.testing.assert_array_equal(changed, held_out)
    np.testing.assert_array_equal(altered.rating_user, movielens_data.rating_user)
    np.testing.assert_array_equal(altered.rating_item, movielens_data.rating_item)


def test_held_out_ratings_shape_nothing_the_simulator_is_built_from(movielens_data,
                                                                    altered_data_dir):
    real = envs.make_env("interest_evolution", **ENV)
    other = envs.make_env("interest_evolution", data_dir=str(altered_data_dir), **ENV)
    np.testing.assert_array_equal(real.catalog.ratings.train, other.catalog.ratings.train)
    np.testing.assert_array_equal(real.catalog.ratings.train,
                                  heldout_split(movielens_data, 0.2, 0))
    for field in ("quality", "appeal", "prior_popularity"):
        np.testing.assert_array_equal(getattr(real.catalog, field),
                                      getattr(other.catalog, field), err_msg=field)
    assert real.population.profiles == other.population.profiles
    np.testing.assert_array_equal(real.population.interest, other.population.interest)
    np.testing.assert_array_equal(real.population.prior_history,
                                  other.population.prior_history)
    a, b = _rollouts(real), _rollouts(other)
    np.testing.assert_equal(a.episode_metrics, b.episode_metrics)  # NaN (no cold user) too
    np.testing.assert_equal(a.role_returns, b.role_returns)


def test_a_simulator_built_from_every_rating_sees_the_change(movielens_data, altered_data_dir):
    """The control: with ``holdout=0`` the same change reaches catalog, users and episodes."""
    real = envs.make_env("interest_evolution", holdout=0, **ENV)
    other = envs.make_env("interest_evolution", holdout=0, data_dir=str(altered_data_dir),
                          **ENV)
    assert real.catalog.ratings.train.all() and not real.catalog.ratings.has_heldout
    assert not np.array_equal(real.catalog.quality, other.catalog.quality)
    assert not np.array_equal(real.population.interest, other.population.interest)
    assert not np.array_equal(real.population.prior_history, other.population.prior_history)
    engagement = [[m["engagement_total"] for m in _rollouts(env).episode_metrics]
                  for env in (real, other)]
    assert engagement[0] != engagement[1]


def test_the_split_is_a_catalog_parameter(movielens_data):
    data = movielens_data
    env = envs.make_env("interest_evolution", holdout=0.1, holdout_seed=7, **ENV)
    ratings = env.catalog.ratings
    assert (ratings.data.n_ratings, ratings.holdout, ratings.seed) == (data.n_ratings, 0.1, 7)
    train = heldout_split(data, 0.1, 7)
    np.testing.assert_array_equal(ratings.train, train)
    expected = envs.movielens_catalog(data, rating_mask=train)
    np.testing.assert_array_equal(env.catalog.quality, expected.quality)
    np.testing.assert_array_equal(env.catalog.prior_popularity, expected.prior_popularity)
    default = envs.make_env("interest_evolution", **ENV)
    assert not np.array_equal(default.catalog.ratings.train, train)
    assert default.catalog.fingerprint() == env.catalog.fingerprint()  # same texts, embeddings
    with pytest.raises(ValueError, match="holdout=1.0 must be a number in"):
        envs.make_env("interest_evolution", holdout=1.0, **ENV)


def test_offline_ranking_and_cf_baseline_read_the_envs_split(movielens_data, tmp_path):
    """The split is the env's (``holdout_seed: 5``), whatever the evaluation seed; the
    offline ranking scores its held-out ratings and the CF baseline trains on the rest."""
    from marlrec.algorithms.actor_critic import build_actor_critic
    from marlrec.config.spec import TrainingGroup, parse_spec
    from marlrec.evaluation.collaborative_filtering import movielens_cf_baseline, train_als
    from marlrec.evaluation.protocol import best_folder, evaluation_env
    from marlrec.evaluation.ranking import baseline_scores, experiment_ranking, heldout_ranking
    from marlrec.training.sharing import module_table

    data = movielens_data
    raw = {"name": "split", "env": {"preset": "interest_evolution", "params": {
        "catalog": "movielens-100k", "num_sessions": 2, "num_candidates": 10,
        "user_state": "item_mean", "holdout_seed": 5}},
        "evaluation": {"seed": 1000, "baselines": ["popularity"]}}
    spec = parse_spec(raw)
    env = evaluation_env(spec)
    split = env.catalog.ratings
    np.testing.assert_array_equal(split.train, heldout_split(data, 0.2, 5))
    other_seed = evaluation_env(parse_spec({**raw, "evaluation": {"seed": 2000}}))
    np.testing.assert_array_equal(other_seed.catalog.ratings.train, split.train)

    policy = movielens_cf_baseline(env, slate_size=2, seed=1000)
    expected = train_als(split.data, split.train, seed=1000)
    np.testing.assert_allclose(policy.factors.item, expected.item, rtol=1e-4, atol=1e-5)
    assert movielens_cf_baseline(split, slate_size=2, seed=1000).factors.user.shape == (
        data.n_users, expected.user.shape[1])
    with pytest.raises(ValueError, match="needs the MovieLens-100k catalog's ratings"):
        movielens_cf_baseline(envs.make_env("interest_evolution", num_sessions=2), 2)

    # One learned run (an untrained but real module) so that the experiment has a ranking.
    module_id = module_table(env, spec.learned_roles, "per_role")["slate_policy_0"]
    module = build_actor_critic(env.observation_space("slate_policy_0"),
                                env.action_space("slate_policy_0"),
                                {"slate_actor": "candidate_scoring", "fcnet_hiddens": [16],
                                 "fcnet_activation": "tanh", "scorer_hiddens": [8]})
    best = best_folder(tmp_path, TrainingGroup("PPO", "per_role"), 0)
    module.save_to_path(str(best / module_id))
    (best / "best.json").write_text(json.dumps({"modules": [module_id]}))
    table = experiment_ranking(tmp_path, spec, env)
    assert set(table) == {"popularity", "PPO per_role"}

    def popularity(ratings: RatingSplit) -> dict[str, float]:
        return heldout_ranking(ratings, {"popularity": lambda train: baseline_scores(
            "popularity", data, train, env.item_vectors)}, seed=1000)["popularity"]

    assert table["popularity"] == popularity(split)
    seeded_by_evaluation = RatingSplit(data, heldout_split(data, 0.2, 1000))
    assert table["popularity"] != popularity(seeded_by_evaluation)

    everything = parse_spec({**raw, "env": {**raw["env"], "params": {
        **raw["env"]["params"], "holdout": 0}}})
    assert experiment_ranking(tmp_path, everything, evaluation_env(everything)) is None

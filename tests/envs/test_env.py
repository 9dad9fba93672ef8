"""RecEcosystemEnv: PettingZoo compliance, determinism, rules, metrics and dynamics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import envs
from envs.behaviours import ChoiceModelUser, GreedyByAppeal, RandomSlate, StaticProvider

SMALL = {"num_sessions": 3, "num_candidates": 6, "slate_size": 2, "horizon": 40}
# One session per episode (RecSim's episode); a budget of 20 ends most within the horizon.
SMALL_RECSIM = {"num_candidates": 6, "slate_size": 2, "horizon": 40, "num_items": 300,
                "num_users": 50, "user_model": {"budget": 20.0}}
PRESET_NAMES = sorted(envs.PRESETS)


def small_env(preset: str = "interest_evolution", **overrides):
    small = SMALL_RECSIM if preset == "recsim_interest_evolution" else SMALL
    return envs.make_env(preset, **{**small, **overrides})


def random_actions(env, rng):
    return {a: env.action_space(a).sample() for a in env.agents}


# ----------------------------------------------------------------------------- PettingZoo


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("user_state", envs.USER_STATES)
def test_parallel_api_synthetic(preset, user_state):
    if preset == "recsim_interest_evolution" and user_state != "interest":
        pytest.skip("the recsim catalog has fixed item features: only user_state=interest")
    env = small_env(preset, user_state=user_state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Live agent was not given observation" etc. fail
        parallel_api_test(env, num_cycles=60)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_parallel_api_movielens(preset, movielens_data):
    env = small_env(preset, catalog="movielens-100k")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=60)


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("catalog", envs.CATALOGS)
def test_parallel_seed(preset, catalog, request):
    if catalog == "movielens-100k":
        request.getfixturevalue("movielens_data")
    state = {"user_state": "interest"} if catalog == "recsim" else {}  # no text to encode
    parallel_seed_test(lambda: small_env(preset, catalog=catalog, **state))


def test_movielens_with_real_encoder_and_text_state(movielens_data, minilm):
    env = small_env("full_ecosystem", catalog="movielens-100k", encoder=minilm,
                    user_state="text", horizon=8)
    assert env.embedding_dim == 384
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=8)
    obs, _ = env.reset(seed=1)
    compact = obs["slate_policy_0"]["user_state"]
    assert compact.shape == (32,) and np.linalg.norm(compact) <= 1.0 + 1e-5  # default width
    assert "Recently watched" not in env.state_texts(np.array([0]))[0]
    full = small_env("full_ecosystem", catalog="movielens-100k", encoder=minilm,
                     user_state="text", horizon=8, observation_dim=0)
    obs, _ = full.reset(seed=1)
    state = obs["slate_policy_0"]["user_state"]
    assert state.shape == (384,)
    np.testing.assert_allclose(np.linalg.norm(state), 1.0, atol=1e-5)
    # the compact state: the full one's coordinates on the catalog's principal axes
    np.testing.assert_allclose(compact, state @ env.observation_basis, atol=1e-5)


def test_observation_width_keeps_features_and_dynamics_at_full_width():
    compact = small_env("interest_evolution", catalog="synthetic", observation_dim=8)
    full = small_env("interest_evolution", catalog="synthetic", observation_dim=0)
    assert compact.observation_space("slate_policy_0")["candidates"].shape[-1] == 8
    behaviours = envs.scripted_behaviours(full)
    a = envs.rollout(compact, behaviours, episodes=2, seed=3).episode_metrics
    b = envs.rollout(full, behaviours, episodes=2, seed=3).episode_metrics
    assert a == b  # scripted policies read features: the same episodes at any width
    compact.reset(seed=0)
    full.reset(seed=0)
    x, y = compact.role_observations(), full.role_observations()
    np.testing.assert_array_equal(x["slate_policy"]["candidate_features"],
                                  y["slate_policy"]["candidate_features"])
    np.testing.assert_allclose(x["slate_policy"]["candidates"],
                               y["slate_policy"]["candidates"] @ compact.observation_basis,
                               atol=1e-6)
    assert x["user"]["interest"].shape == y["user"]["interest"].shape  # users: full width
    with pytest.raises(ValueError, match="observation_dim=-1 must be an integer >= 0"):
        small_env("interest_evolution", observation_dim=-1)


def test_observations_are_in_their_spaces_and_finite():
    for preset in PRESET_NAMES:
        env = small_env(preset, horizon=80, provider_model={"patience": 5})
        obs, _ = env.reset(seed=3)
        rng = np.random.default_rng(0)
        while env.agents:
            for agent, o in obs.items():
                assert env.observation_space(agent).contains(o), (preset, agent)
                leaves = o.values() if isinstance(o, dict) else [o]
                assert all(np.isfinite(x).all() for x in leaves)
            obs, *_ = env.step(random_actions(env, rng))


# ----------------------------------------------------------------------------- determinism


def trajectory(env, seed, steps=30):
    obs, _ = env.reset(seed=seed)
    for agent in env.possible_agents:
        env.action_space(agent).seed(seed)
    out = []
    for _ in range(steps):
        if not env.agents:
            break
        actions = random_actions(env, None)
        obs, rewards, *_ = env.step(actions)
        out.append((obs["slate_policy_0"]["candidates"].copy(), sorted(rewards.items())))
    return out


def test_same_seed_same_trajectory_and_different_seed_differs():
    a, b = small_env("full_ecosystem"), small_env("full_ecosystem")
    ta, tb = trajectory(a, 7), trajectory(b, 7)
    assert len(ta) == len(tb)
    for (oa, ra), (ob, rb) in zip(ta, tb, strict=True):
        np.testing.assert_array_equal(oa, ob)
        assert ra == rb
    tc = trajectory(a, 8)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(ta, tc, strict=False))


def test_rollout_is_reproducible():
    env = small_env()
    behaviours = envs.scripted_behaviours(env, "random")
    first = envs.rollout(env, behaviours, episodes=2, seed=11)
    second = envs.rollout(env, behaviours, episodes=2, seed=11)
    assert first.episode_metrics == second.episode_metrics
    assert first.role_returns == second.role_returns


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("agent", "action"),
    [
        ("slate_policy_1", np.array([0, 6])),  # position 6 of 6 candidates
        ("slate_policy_0", np.array([0, 1, 2])),  # wrong slate size
        ("slate_policy_0", np.array([0.5, 1.0])),  # not integers
        ("user_2", 4),  # Discrete(slate_size + 2) = Discrete(4)
        ("user_0", -1),
        ("provider_3", 21),  # Discrete(num_topics + 1) = Discrete(21)
    ],
)
def test_invalid_action_raises_naming_agent_action_and_space(agent, action):
    env = small_env("full_ecosystem")
    env.reset(seed=0)
    actions = random_actions(env, None)
    actions[agent] = action
    with pytest.raises(ValueError) as err:
        env.step(actions)
    message = str(err.value)
    assert agent in message
    assert str(env.action_space(agent)) in message


def test_missing_and_unknown_agents_are_refused():
    env = small_env()
    env.reset(seed=0)
    actions = random_actions(env, None)
    del actions["user_1"]
    with pytest.raises(ValueError, match="user_1"):
        env.step(actions)
    actions = random_actions(env, None)
    actions["user_99"] = 0
    with pytest.raises(ValueError, match="user_99"):
        env.step(actions)


def test_step_arrays_checks_shapes_and_ranges():
    env = small_env()
    env.reset(seed=0)
    b, p = env.num_sessions, env.catalog.num_providers
    ok_slate, ok_user, ok_prov = np.zeros((b, 2), np.int64), np.zeros(b, np.int64), np.zeros(
        p, np.int64)
    with pytest.raises(ValueError, match="slate_policy actions must be an integer array"):
        env.step_arrays(ok_slate.astype(float), ok_user, ok_prov)
    bad_user = ok_user.copy()
    bad_user[2] = 9
    with pytest.raises(ValueError, match="'user_2'"):
        env.step_arrays(ok_slate, bad_user, ok_prov)


def test_step_after_end_requires_reset():
    env = small_env(horizon=2)
    env.reset(seed=0)
    for _ in range(2):
        env.step(random_actions(env, None))
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"slate_size": 11, "num_candidates": 10}, "slate_size=11 must be <= num_candidates=10"),
        ({"num_sessions": 0}, "num_sessions=0 must be an integer >= 1"),
        ({"user_state": "tfidf"},
         "user_state='tfidf' is not one of ('text', 'item_mean', 'text_deferred', 'interest', "
         "'id')"),
        ({"catalog": "netflix"}, "catalog='netflix' is not one of"),
        ({"sessions": 3}, "unknown parameter(s) ['sessions']"),
        ({"user_model": {"budjet": 3}}, "unknown user_model parameter(s) ['budjet']"),
        ({"user_model": {"budget": -1.0}}, "user_model.budget=-1.0 must be > 0"),
        ({"retrieval_share": 1.5}, "retrieval_share=1.5 must be in [0, 1]"),
    ],
)
def test_bad_parameters_name_the_field_value_and_allowed(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        envs.make_env("interest_evolution", **kwargs)
    assert fragment in str(err.value)


def test_bad_preset_name_lists_presets():
    with pytest.raises(ValueError, match="allowed: \\['creator_economy', 'full_ecosystem'"):
        envs.make_env("interest_evolutoin")


def test_catalog_too_small_for_candidates_is_refused():
    with pytest.raises(ValueError, match="live items at reset"):
        envs.make_env("interest_evolution", num_items=10, num_candidates=10)


# ----------------------------------------------------------------------------- rules


def test_duplicate_slate_positions_are_replaced_and_counted():
    env = small_env()
    env.reset(seed=0)
    candidates = env.candidate_items
    actions = random_actions(env, None)
    for j in range(1, env.num_sessions):
        actions[f"slate_policy_{j}"] = np.array([0, 1])
    actions["slate_policy_0"] = np.array([3, 3])
    env.step(actions)
    shown = env.shown_items
    # Slot 0's next slate: candidate 3, then the first candidate not yet in the slate (0),
    # unless the session just ended (then a cold-open slate is shown).
    if env.metrics.session_steps[0] > 0:
        assert shown[0].tolist() == [candidates[0, 3], candidates[0, 0]]
    assert env.episode_metrics()["duplicate_slate_items"] == 1


def test_pipeline_slate_chosen_now_is_shown_next_step():
    env = small_env(user_model={"budget": 1000.0},  # no session ends in this test
                    observation_dim=0)  # the slate policy sees the vectors the user sees
    obs, _ = env.reset(seed=4)
    actions = random_actions(env, None)
    actions.update({f"user_{j}": 0 for j in range(env.num_sessions)})  # nobody leaves
    actions["slate_policy_1"] = np.array([4, 1])
    candidates = obs["slate_policy_1"]["candidates"]
    obs, *_ = env.step(actions)
    np.testing.assert_array_equal(obs["user_1"]["slate"], candidates[[4, 1]])


def test_candidates_are_distinct_live_and_the_nearest_first():
    env = small_env(num_candidates=8, horizon=60, retrieval_dim=0,  # exact retrieval
                    observation_dim=0)  # and the full user state in the observation
    obs, _ = env.reset(seed=2)
    rng = np.random.default_rng(0)
    r = env.config.num_retrieved
    while env.agents:
        cands = env.candidate_items
        assert all(len(set(row)) == len(row) for row in cands.tolist())
        assert env.market.live[cands].all()
        for j in range(env.num_sessions):
            scores = env.item_vectors @ obs[f"slate_policy_{j}"]["user_state"]
            scores[~env.market.live] = -np.inf
            recent = env._history[j][env._history[j] >= 0]
            scores[recent] = -np.inf
            np.testing.assert_allclose(scores[cands[j, :r]], np.sort(scores)[::-1][:r],
                                       atol=1e-5)
        obs, *_ = env.step(random_actions(env, rng))


def test_sessions_end_when_budget_is_spent_and_a_new_user_arrives():
    env = small_env(horizon=200, user_model={"budget": 10.0})
    result = envs.rollout(env, envs.scripted_behaviours(env, "random"), episodes=1)
    m = result.episode_metrics[0]
    assert m["sessions_completed"] > env.num_sessions
    assert m["session_length"] >= 1


def test_a_user_who_leaves_ends_the_session():
    env = small_env("strategic_users")
    env.reset(seed=0)
    actions = random_actions(env, None)
    for j in range(env.num_sessions):
        actions[f"user_{j}"] = env.config.slate_size + 1  # leave
    env.step(actions)
    assert env.metrics.ended_steps == [1] * env.num_sessions


# ----------------------------------------------------------------------------- dynamics


def test_click_greedy_policy_loses_long_term_engagement_to_quality():
    env = small_env(num_sessions=8, horizon=150, num_candidates=10, reveal_quality=True)
    appeal = envs.rollout(env, envs.scripted_behaviours(env, "greedy_by_appeal"), 3, seed=0)
    quality = envs.rollout(env, envs.scripted_behaviours(env, "greedy_by_quality"), 3, seed=0)
    a, q = appeal.mean_metrics(), quality.mean_metrics()
    assert a["ctr"] > q["ctr"]  # appeal wins the clicks...
    assert q["engagement_per_session"] > 1.5 * a["engagement_per_session"]  # ...not the time
    assert q["session_length"] > a["session_length"]
    assert q["user_utility"] > a["user_utility"]


def test_interests_drift_toward_consumed_items():
    env = small_env(user_model={"budget": 1000.0, "interest_drift": 0.3})
    env.reset(seed=0)
    before = env._interest.copy()
    shown = env.shown_items
    actions = random_actions(env, None)
    for j in range(env.num_sessions):
        actions[f"user_{j}"] = 0  # consume the first slate item
    env.step(actions)
    consumed = env.item_vectors[shown[:, 0]]
    closer = (env._interest * consumed).sum(1) > (before * consumed).sum(1)
    assert closer.all()


def test_starved_providers_leave_and_their_items_are_withdrawn():
    env = small_env("creator_economy", horizon=120,
                    provider_model={"patience": 10, "leave_threshold": 0.9})
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    left: set[str] = set()
    while env.agents:
        obs, _, terminated, _, _ = env.step(random_actions(env, rng))
        left |= {a for a, done in terminated.items() if done}
        assert not left & set(env.agents)
    assert left, "with a 0.9 fair-share threshold someone must starve"
    m = env.episode_metrics()
    assert m["active_providers"] == env.catalog.num_providers - len(left)
    gone = [int(a.rsplit("_", 1)[1]) for a in left]
    assert not np.isin(env.market.owner[env.market.live], gone).any()


def test_follow_the_trend_providers_release_items():
    env = small_env("creator_economy", horizon=60)
    behaviours = envs.scripted_behaviours(env, "random", provider="follow_the_trend")
    envs.rollout(env, behaviours, episodes=1)
    assert env.market.releases > 0
    released = env.market.released_at >= 0
    assert env.market.live[released].any()


def test_choice_model_user_probabilities_follow_appeal_and_affinity():
    model = envs.UserModel()
    user = ChoiceModelUser(model)
    interest = np.array([[1.0, 0.0]], np.float32)
    slate = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    obs = {"interest": interest, "slate": slate,
           "slate_features": np.array([[[0.0, 0.0], [0.0, 0.0]]], np.float32)}
    p = user.probabilities(obs)[0]
    expected = np.exp([model.affinity_weight, 0.0, model.no_click_score])
    np.testing.assert_allclose(p, expected / expected.sum(), rtol=1e-6)
    draws = user.act_batch({k: np.repeat(v, 4000, 0) for k, v in obs.items()},
                           np.random.default_rng(0))
    np.testing.assert_allclose(np.bincount(draws, minlength=4)[:3] / 4000, p, atol=0.03)


# ----------------------------------------------------------------------------- metrics


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_metrics_are_within_their_ranges(preset):
    env = small_env(preset, horizon=80)
    beh = envs.scripted_behaviours(env, "popularity", provider="follow_the_trend")
    for agent in ("user_0", "provider_0"):  # a mix: per-agent behaviours override roles
        beh[agent] = envs.RandomAction(env.action_space(agent))
    m = envs.rollout(env, beh, episodes=2, seed=1).episode_metrics[-1]
    assert 0 <= m["ctr"] <= 1
    assert 0 < m["catalog_coverage"] <= 1
    assert 0 <= m["intra_list_diversity"] <= 2
    assert 0 <= m["provider_exposure_gini"] <= 1
    assert m["novelty"] > 0
    assert m["engagement_total"] >= 0 and m["engagement_per_session"] >= 0
    assert m["session_length"] >= 1
    assert 0 <= m["active_providers"] <= env.catalog.num_providers
    assert m["sessions"] >= env.num_sessions
    assert all(np.isfinite(v) for v in m.values())


def test_episode_metrics_reach_infos_at_the_end():
    env = small_env(horizon=3)
    env.reset(seed=0)
    infos = {}
    while env.agents:
        *_, infos = env.step(random_actions(env, None))
    assert set(infos) == set(env.possible_agents)
    assert infos["slate_policy_0"]["episode_metrics"]["ctr"] >= 0


def test_gini():
    from envs.metrics import gini

    assert gini(np.array([1.0, 1.0, 1.0])) == 0.0
    assert gini(np.array([0.0, 0.0, 3.0])) == pytest.approx(2 / 3)
    assert gini(np.zeros(3)) == 0.0


def test_rollout_validates_behaviours():
    env = small_env()
    with pytest.raises(ValueError, match="no behaviour for role 'provider'"):
        envs.rollout(env, {"slate_policy": RandomSlate(2), "user": ChoiceModelUser(
            env.config.user_model)})
    with pytest.raises(ValueError, match="neither roles"):
        envs.rollout(env, {"slate_policy": GreedyByAppeal(2), "user": ChoiceModelUser(
            env.config.user_model), "provider": StaticProvider(), "critic": StaticProvider()})


def test_quality_oracle_reads_hidden_quality_in_rollouts_and_needs_it_revealed_otherwise():
    oracle = envs.GreedyByQuality(2)
    env = small_env()
    obs, _ = env.reset(seed=0)
    with pytest.raises(ValueError, match="reveal_quality=True"):
        oracle(obs["slate_policy_0"])
    expected = np.argsort(-env.catalog.quality[env.candidate_items], axis=1,
                          kind="stable")[:, :2]
    chosen = oracle.act_with_env(env, np.arange(env.num_sessions), obs, None)
    np.testing.assert_array_equal(chosen, expected)
    revealed = small_env(reveal_quality=True)
    obs, _ = revealed.reset(seed=0)
    batch = {k: np.stack([obs[f"slate_policy_{j}"][k] for j in range(3)])
             for k in obs["slate_policy_0"]}
    np.testing.assert_array_equal(oracle.act_batch(batch, None), expected)
    oracle_return = envs.rollout(env, envs.scripted_behaviours(env, "greedy_by_quality"),
                                 episodes=2, seed=0).mean_metrics()["user_utility"]
    random_return = envs.rollout(env, envs.scripted_behaviours(env, "random"), episodes=2,
                                 seed=0).mean_metrics()["user_utility"]
    assert oracle_return > random_return


def test_single_observation_call_matches_batch():
    env = small_env()
    obs, _ = env.reset(seed=0)
    greedy = GreedyByAppeal(env.config.slate_size)
    single = greedy(obs["slate_policy_0"])
    assert env.action_space("slate_policy_0").contains(single)
    batch = greedy.act_batch(env.role_observations()["slate_policy"], np.random.default_rng())
    np.testing.assert_array_equal(single, batch[0])


def test_state_and_render():
    env = envs.make_env("interest_evolution", render_mode="ansi", **SMALL)
    env.reset(seed=0)
    s0 = env.state()
    env.step(random_actions(env, None))
    assert env.state().shape == s0.shape and np.isfinite(env.state()).all()
    assert "session 0" in env.render()


# ----------------------------------------------------------------------------- edge cases


def test_providers_without_items_terminate_at_the_first_step():
    env = envs.make_env("creator_economy", num_items=40, num_topics=4, num_providers=30,
                        num_sessions=2, num_candidates=4, horizon=30)
    env.reset(seed=0)
    idle = {f"provider_{p}" for p in range(30) if not env.market.active[p]}
    assert idle, "30 providers for 40 items: some own nothing"
    _, _, terminated, _, _ = env.step(random_actions(env, None))
    assert {a for a, done in terminated.items() if done} == idle  # they leave at once
    assert not idle & set(env.agents)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(env, num_cycles=30)


def test_state_is_in_state_space_and_render_takes_rllibs_mode_argument():
    env = envs.make_env("interest_evolution", render_mode="ansi", **SMALL)
    env.reset(seed=0)
    env.step(random_actions(env, None))
    assert env.state_space.contains(env.state())
    assert "session 0" in env.render("ansi")


def test_cached_item_vectors_are_read_only():
    env = small_env()
    with pytest.raises(ValueError, match="read-only"):
        env.item_vectors[0, 0] = 1.0


def test_profile_vectors_follow_the_profiles_not_the_population_name():
    base = small_env()
    d = base.embedding_dim
    a = envs.UserPopulation("same-name", ("likes cooking",) * 3,
                            base.population.interest[:3])
    b = envs.UserPopulation("same-name", ("likes celebrity gossip",) * 5,
                            base.population.interest[:5])
    env_a = envs.RecEcosystemEnv(base.catalog, a, base.config)
    env_b = envs.RecEcosystemEnv(base.catalog, b, base.config)
    env_b.reset(seed=0)  # five users: no stale three-row cache
    assert env_a._profile_vectors.shape == (3, d) and env_b._profile_vectors.shape == (5, d)
    assert not np.allclose(env_a._profile_vectors[0], env_b._profile_vectors[0])


def test_rollout_rejects_non_integer_behaviour_actions():
    class Floaty(envs.RandomSlate):
        def act_batch(self, obs, rng):
            return super().act_batch(obs, rng) + 0.5

    env = small_env()
    beh = envs.scripted_behaviours(env, "random")
    beh["slate_policy"] = Floaty(2)
    with pytest.raises(ValueError, match="act_batch returned float64 actions"):
        envs.rollout(env, beh)


def test_first_release_retires_an_item_live_since_reset():
    env = small_env("creator_economy", num_items=200)
    env.reset(seed=0)
    market = env.market
    own_before = set(np.flatnonzero(market.live & (market.owner == 0)))
    released = market.release(np.array([1] + [0] * (env.catalog.num_providers - 1)), 0,
                              np.random.default_rng(0))
    assert released[0] == 1
    own_after = set(np.flatnonzero(market.live & (market.owner == 0)))
    new = own_after - own_before
    assert len(new) == 1 and len(own_before - own_after) == 1
    market.release(np.array([1] + [0] * (env.catalog.num_providers - 1)), 1,
                   np.random.default_rng(1))
    assert new <= set(np.flatnonzero(market.live))  # the t=0 release is not the oldest


def test_dict_api_and_batched_rollout_give_the_same_episode():
    env = small_env("creator_economy", horizon=50)
    beh = envs.scripted_behaviours(env, "greedy_by_appeal", provider="follow_the_trend")
    reference = envs.rollout(env, beh, episodes=1, seed=5).episode_metrics[0]
    (reset_seed,), rng = envs.rollout_seed_streams(5, 1)
    obs, _ = env.reset(seed=reset_seed)
    b = env.num_sessions
    while env.agents:
        batch = {role: {k: np.stack([obs[f"{role}_{j}"][k] for j in range(b)])
                        for k in obs[f"{role}_0"]} for role in ("slate_policy", "user")}
        providers = [a for a in env.possible_agents if a.startswith("provider_")]
        prov_obs = np.stack([obs.get(a, np.zeros_like(obs[env.agents[-1]]))
                             for a in providers])
        slate = beh["slate_policy"].act_batch(batch["slate_policy"], rng)
        user = beh["user"].act_batch(batch["user"], rng)
        prov = beh["provider"].act_batch(prov_obs, rng)
        actions = {f"slate_policy_{j}": slate[j] for j in range(b)}
        actions.update({f"user_{j}": user[j] for j in range(b)})
        actions.update({a: prov[i] for i, a in enumerate(providers) if a in env.agents})
        obs, *_ = env.step(actions)
    assert env.episode_metrics() == reference


def test_text_deferred_puts_state_texts_in_infos_and_runs_as_item_mean():
    deferred, item_mean = small_env(user_state="text_deferred"), small_env(
        user_state="item_mean")
    obs_d, infos = deferred.reset(seed=3)
    obs_m, _ = item_mean.reset(seed=3)
    for j in range(deferred.num_sessions):
        assert infos[f"slate_policy_{j}"]["user_state_text"] == deferred.state_texts([j])[0]
    np.testing.assert_array_equal(obs_d["slate_policy_0"]["user_state"],
                                  obs_m["slate_policy_0"]["user_state"])
    actions = random_actions(deferred, None)
    _, _, _, _, infos = deferred.step(actions)
    assert "user_state_text" in infos["slate_policy_1"]
    assert "user_state_text" not in infos["user_1"]


class _Rotated:
    """Another valid encoder of the same width: the hashing encoder's vectors, rolled."""

    def __init__(self, dim: int = 64) -> None:
        from envs.encoding import HashingTextEncoder

        self.inner = HashingTextEncoder(dim)

    def __call__(self, texts):
        return np.roll(self.inner(texts), 7, axis=1)


def test_a_state_encoder_changes_what_the_platform_sees_not_the_simulated_world():
    """``state_encoder`` encodes the user texts (profiles, state texts) the platform sees;
    the item vectors and the users' tastes built from them stay the item encoder's."""
    params = {**SMALL, "user_state": "text", "num_items": 80, "num_providers": 4}
    plain = envs.make_env("interest_evolution", **params)
    split = envs.make_env("interest_evolution", state_encoder=_Rotated(), **params)
    np.testing.assert_array_equal(plain.item_vectors, split.item_vectors)
    np.testing.assert_array_equal(plain.population.interest, split.population.interest)
    assert not np.allclose(plain.state_centre, split.state_centre)
    obs_a, _ = plain.reset(seed=4)
    obs_b, _ = split.reset(seed=4)
    assert not np.allclose(obs_a["slate_policy_0"]["user_state"],
                           obs_b["slate_policy_0"]["user_state"])
    from envs.encoding import unit_rows

    for env in (plain, split):  # each state is its state encoder's vector of the text
        text = env.state_texts(np.arange(SMALL["num_sessions"]))
        expected = unit_rows(env.state_encoder(text) - env.state_centre)
        np.testing.assert_allclose(env._state, expected, atol=1e-6)
    assert plain.state_encoder is plain.encoder and split.state_encoder is not split.encoder


def test_a_state_encoder_of_another_width_is_refused():
    from envs.encoding import HashingTextEncoder

    with pytest.raises(ValueError, match=r"state_encoder HashingTextEncoder makes 32-d vectors, "
                                         r"the item encoder HashingTextEncoder 64-d"):
        envs.make_env("interest_evolution", state_encoder=HashingTextEncoder(32), **SMALL)

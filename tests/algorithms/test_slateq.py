"""SlateQ: the slate optimisation against brute force, the env's record of responses, the
replay buffer's pairing of slates with their responses on real RLlib episodes, and
training through RLlib on a tiny budget."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray")

import envs  # noqa: E402
from envs.ecosystem import NO_CONSUMPTION, NOT_CHOSEN  # noqa: E402
from marlrec.algorithms import ALGORITHMS  # noqa: E402
from marlrec.algorithms.slateq_module import all_slates, best_slates, slate_value  # noqa: E402
from marlrec.algorithms.slateq_replay import SlateResponseEpisodeReplayBuffer  # noqa: E402
from marlrec.config.spec import SpecError, parse_spec  # noqa: E402

TINY = {"catalog": "synthetic", "num_sessions": 2, "num_candidates": 5, "slate_size": 2,
        "horizon": 40, "user_state": "item_mean", "num_items": 60, "num_providers": 3,
        "num_users": 50}


def random_scores(batch: int, candidates: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, candidates, generator=g) * 3,
            torch.randn(batch, generator=g) * 3,
            torch.randn(batch, candidates, generator=g),
            torch.randn(batch, generator=g))


def brute_force(q, q_none, logits, no_choice, size):
    """The best slate value by trying every subset with the decomposition written out."""
    best = []
    for b in range(q.shape[0]):
        values = []
        for slate in itertools.combinations(range(q.shape[1]), size):
            w = [float(np.exp(logits[b, i])) for i in slate]
            w0 = float(np.exp(no_choice[b]))
            p = [x / (w0 + sum(w)) for x in w]
            values.append(sum(pi * float(q[b, i]) for pi, i in zip(p, slate, strict=True))
                          + w0 / (w0 + sum(w)) * float(q_none[b]))
        best.append(max(values))
    return np.array(best)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_exact_slate_optimisation_matches_brute_force(size):
    q, q_none, logits, no_choice = random_scores(64, 6, seed=size)
    slates, values = best_slates(q, q_none, logits, no_choice, size, all_slates(6, size))
    np.testing.assert_allclose(values.numpy(), brute_force(q, q_none, logits, no_choice, size),
                               rtol=1e-5, atol=1e-6)  # float32 against float64
    assert all(len(set(s)) == size for s in slates.tolist())  # distinct candidates
    w = torch.exp(logits)
    again = slate_value(q.gather(1, slates), q_none, w.gather(1, slates), torch.exp(no_choice))
    np.testing.assert_allclose(again.numpy(), values.numpy(), rtol=1e-5, atol=1e-6)
    # the slate lists its items by decreasing exp(v) Q
    contribution = (w * q).gather(1, slates)
    assert (contribution[:, :-1] >= contribution[:, 1:] - 1e-6).all()


def test_greedy_optimisation_is_exact_for_one_item_and_never_beats_exact():
    q, q_none, logits, no_choice = random_scores(256, 8, seed=7)
    for size in (1, 2, 3):
        exact = best_slates(q, q_none, logits, no_choice, size, all_slates(8, size))[1]
        slates, greedy = best_slates(q, q_none, logits, no_choice, size)
        assert all(len(set(s)) == size for s in slates.tolist())
        assert (greedy <= exact + 1e-5).all()
        if size == 1:
            np.testing.assert_allclose(greedy.numpy(), exact.numpy(), rtol=1e-6)
        else:  # the paper's greedy is near-optimal on these
            assert float((exact - greedy).mean()) < 0.05 * float(exact.abs().mean())


def test_slate_responses_record_what_the_platform_saw_of_the_last_chosen_slate():
    """``env.slate_responses``: the consumed slate position, NO_CONSUMPTION, or NOT_CHOSEN
    for a cold-open slate (reset and the step after a session ended)."""
    env = envs.make_env("interest_evolution", **TINY)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    b, s = env.config.num_sessions, env.config.slate_size
    cold = np.ones(b, bool)  # at reset every slot shows a cold open
    seen = {NOT_CHOSEN: 0, NO_CONSUMPTION: 0, "consumed": 0}
    for _ in range(40):
        user = rng.integers(0, s + 2, b)  # consume a position, skip (s) or leave (s + 1)
        slates = np.stack([rng.permutation(env.config.num_candidates)[:s] for _ in range(b)])
        provider = np.zeros(env.catalog.num_providers, np.int64)
        _, ended, _ = env.step_arrays(slates, user, provider)
        expected = np.where(user < s, user, NO_CONSUMPTION)
        expected[cold] = NOT_CHOSEN
        np.testing.assert_array_equal(env.slate_responses, expected)
        for value in expected:
            seen["consumed" if value >= 0 else int(value)] += 1
        cold = np.zeros(b, bool)
        cold[ended] = True
        if not env.agents:
            break
    assert min(seen.values()) > 0  # every case happened


def slateq_spec(algorithm: str = "SlateQ", **training) -> object:
    return parse_spec({
        "name": "slateq", "env": {"preset": "interest_evolution", "params": TINY},
        "roles": {"slate_policy": {"learned": True}, "user": {"learned": False},
                  "provider": {"learned": False}},
        "algorithms": [algorithm], "sharing": "per_role",
        "training": {"train_batch_size_per_learner": 32,
                     "num_steps_sampled_before_learning_starts": 40, **training},
        "resources": {"num_env_runners": 0}})


def test_the_buffer_pairs_each_slate_with_the_response_to_it(local_ray):
    """On real RLlib episodes of the ecosystem (reward: watch time): a transition whose
    slate was consumed has the watch time of that consumption as its one-step reward, one
    whose slate was skipped has none. RLlib's own pairing (the reward returned with the
    action) would give each slate the previous slate's watch time."""
    from marlrec.training.rllib_config import build_algorithm_config

    algo = build_algorithm_config(slateq_spec(), "SlateQ", "per_role", seed=0).build_algo()
    try:
        runner = algo.env_runner
        buffer = SlateResponseEpisodeReplayBuffer(capacity=10_000, seed=0)
        for _ in range(4):
            buffer.add(runner.sample(num_timesteps=60, random_actions=True))
        assert len(buffer) > 50
        batch = buffer.sample(400, n_step=1, gamma=0.9)
        responses = np.array([e.get_extra_model_outputs("slate_response")[0] for e in batch])
        rewards = np.array([e.get_rewards()[0] for e in batch])
        assert set(np.unique(responses)) <= set(range(TINY["slate_size"])) | {NO_CONSUMPTION}
        assert (responses >= 0).any() and (responses == NO_CONSUMPTION).any()
        assert (rewards[responses >= 0] > 0).all()
        assert (rewards[responses == NO_CONSUMPTION] == 0).all()
        # n steps: the discounted sum of the next rewards, fewer at the trajectory's end
        longer = buffer.sample(200, n_step=3, gamma=0.5)
        steps = np.array([e.get_extra_model_outputs("n_step")[0] for e in longer])
        assert set(steps) <= {1, 2, 3} and (steps == 3).mean() > 0.5
        # the return-to-go (SlateQ-CTDE's value target) is the n-step return to the end
        whole = buffer.sample(100, n_step=10_000, gamma=0.9)
        for episode in whole:
            assert episode.get_extra_model_outputs("return_to_go")[0] == pytest.approx(
                episode.get_rewards()[0])
            assert episode.is_done
    finally:
        algo.stop()


@pytest.mark.parametrize("algorithm", [pytest.param("SlateQ", marks=pytest.mark.slow),
                                       "SlateQ-CTDE"])
def test_slateq_trains_through_rllib_and_acts_greedily(local_ray, algorithm):
    """A few iterations on the tiny ecosystem: the losses are finite, the target networks
    sync, and the evaluation adapter's slates are the module's best slates, from the own
    observation alone (SlateQ-CTDE's value network reads the global state too), and the
    inference-only copy acts the same without the training-only networks."""
    from ray.rllib.core.columns import Columns

    from marlrec.training.rllib_config import build_algorithm_config

    config = build_algorithm_config(slateq_spec(algorithm, target_network_update_freq=50),
                                    algorithm, "per_role", seed=0)
    algo = config.build_algo()
    try:
        for _ in range(3):
            result = algo.train()
        learner = result["learners"]["slate_policy"]
        for key in ("qf_loss", "choice_loss", "qf_mean", "value_loss"):
            assert np.isfinite(learner[key]), key
        assert (learner["value_loss"] > 0) == (algorithm == "SlateQ-CTDE")
        assert learner["num_target_updates"] >= 1
        module = algo.get_module("slate_policy")
        own_dim = module.own_dim
        episodes = algo.env_runner.sample(num_timesteps=20)
        flat = torch.as_tensor(np.stack([
            agent.get_observations()[0] for episode in episodes
            for agent in episode.agent_episodes.values()]), dtype=torch.float32)
        assert flat.shape[1] == own_dim + module.global_state_dim
        greedy = ALGORITHMS[algorithm].greedy_action()(module, flat[:, :own_dim])
        assert greedy.shape == (len(flat), TINY["slate_size"])
        assert all(len(set(s)) == TINY["slate_size"] for s in greedy.tolist())
        with torch.no_grad():
            np.testing.assert_array_equal(
                greedy, module.forward_inference({Columns.OBS: flat})[Columns.ACTIONS].numpy())
        # An inference-only copy holds what acting reads only, and acts the same from the
        # weights the learner sends it.
        spec = algo.config.get_multi_rl_module_spec(
            spaces=algo.env_runner.get_spaces())["slate_policy"]
        spec.inference_only = True
        acting = spec.build()
        acting.set_state(module.get_state(inference_only=True))
        assert acting.value_net is None and not hasattr(acting, "_target_q_net")
        with torch.no_grad():
            np.testing.assert_array_equal(
                greedy, acting.forward_inference({Columns.OBS: flat})[Columns.ACTIONS].numpy())
    finally:
        algo.stop()


def test_the_spec_refuses_what_slateq_cannot_learn():
    with pytest.raises(SpecError, match=r"'SlateQ' cannot learn role\(s\) \['user'\]"):
        parse_spec({"name": "t", "env": {"preset": "interest_evolution", "params": TINY},
                    "roles": {"slate_policy": {"learned": True}, "user": {"learned": True}},
                    "algorithms": ["SlateQ"]})
    with pytest.raises(SpecError, match="consensus"):
        parse_spec({"name": "t", "env": {"preset": "interest_evolution", "params": TINY},
                    "algorithms": ["SlateQ"], "sharing": "consensus"})
    with pytest.raises(SpecError, match="num_atoms"):
        parse_spec({"name": "t", "env": {"preset": "interest_evolution", "params": TINY},
                    "algorithms": ["SlateQ"], "training": {"num_atoms": 51}})


def test_candidate_scores_are_the_values_of_one_item_slates():
    """Offline ranking orders items by ``candidate_scores``: the value of showing each
    candidate alone, whose best is the exact optimum over one-item slates."""
    import gymnasium as gym
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    from marlrec.algorithms.slateq_module import SlateQModule

    env = envs.make_env("interest_evolution", **TINY)
    own = env.observation_space("slate_policy_0")
    module = RLModuleSpec(
        module_class=SlateQModule,
        observation_space=gym.spaces.Box(-np.inf, np.inf, (gym.spaces.flatdim(own),)),
        action_space=gym.spaces.MultiDiscrete([TINY["num_candidates"]]),
        model_config={"own_observation_space": own}).build()
    flat = torch.randn(8, gym.spaces.flatdim(own))
    scores = module.candidate_scores(flat)
    with torch.no_grad():
        slates, values = module.greedy_slates(flat)
    np.testing.assert_allclose(scores.max(-1).values.detach().numpy(), values.numpy(),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scores.argmax(-1).numpy(), slates[:, 0].numpy())

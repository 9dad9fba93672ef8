"""The spec validator reads the registries: algorithms, behaviours (with what each needs),
evaluation-only baselines (by catalog capability) and metrics (selectable or not)."""

from __future__ import annotations

import dataclasses

import pytest

import envs
from marlrec.algorithms import ALGORITHMS
from marlrec.config.spec import SpecError, parse_spec

SYNTHETIC = {"name": "t", "env": {"preset": "interest_evolution",
                                  "params": {"catalog": "synthetic", "num_sessions": 2,
                                             "user_state": "item_mean"}}}


def test_the_most_diverse_baseline_is_accepted_wherever_a_slate_behaviour_is():
    spec = parse_spec({**SYNTHETIC, "evaluation": {"baselines": ["most_diverse", "random"]}})
    assert spec.evaluation.baselines == ["most_diverse", "random"]
    scripted = parse_spec({**SYNTHETIC, "env": {"preset": "strategic_users",
                                                "params": SYNTHETIC["env"]["params"]},
                           "roles": {"slate_policy": {"learned": False,
                                                      "behaviour": "most_diverse"},
                                     "user": {"learned": True}}})
    assert scripted.roles["slate_policy"].behaviour == "most_diverse"


def test_a_behaviour_is_refused_where_its_observations_lack_what_it_reads():
    with pytest.raises(SpecError, match=r"experiment.evaluation.baselines\[0\]: "
                                        r"'most_diverse' cannot act with env.params.user_state="
                                        r"'id'"):
        parse_spec({**SYNTHETIC, "env": {"preset": "interest_evolution",
                                         "params": {"catalog": "synthetic", "user_state": "id"}},
                    "evaluation": {"baselines": ["most_diverse"]}})


def test_evaluation_only_baselines_need_their_catalog_capability():
    movielens = {**SYNTHETIC, "env": {"preset": "interest_evolution",
                                      "params": {"catalog": "movielens-100k"}},
                 "evaluation": {"baselines": ["collaborative_filtering"]}}
    assert parse_spec(movielens, check_data=False).evaluation.baselines == [
        "collaborative_filtering"]
    with pytest.raises(SpecError, match=r"experiment.evaluation.baselines\[0\]: "
                                        r"'collaborative_filtering' is not one of \['random'"):
        parse_spec({**SYNTHETIC, "evaluation": {"baselines": ["collaborative_filtering"]}})


def test_the_selection_metric_must_be_a_selectable_registered_metric():
    assert parse_spec({**SYNTHETIC, "evaluation": {"metric": "long_tail_share"}}
                      ).evaluation.metric == "long_tail_share"
    with pytest.raises(SpecError, match=r"experiment.evaluation.metric: "
                                        r"'provider_exposure_gini' is not one of"):
        parse_spec({**SYNTHETIC, "evaluation": {"metric": "provider_exposure_gini"}})


def test_a_registered_algorithm_is_accepted_with_no_other_edit(monkeypatch):
    monkeypatch.setitem(ALGORITHMS, "PPO_CLONE",
                        dataclasses.replace(ALGORITHMS["PPO"], name="PPO_CLONE"))
    assert parse_spec({**SYNTHETIC, "algorithms": ["PPO_CLONE"]}).algorithms == ["PPO_CLONE"]
    with pytest.raises(SpecError, match=r"'DQN' cannot learn role\(s\) \['slate_policy'\]"):
        parse_spec({**SYNTHETIC, "algorithms": ["DQN"]})


def test_every_registered_behaviour_is_offered_to_its_role():
    for name, info in envs.BEHAVIOURS.items():
        assert name in envs.ROLE_BEHAVIOURS[info.role]


def test_an_encoder_pool_serves_the_envs_encoder():
    spec = parse_spec({**SYNTHETIC, "env": {**SYNTHETIC["env"], "encoder": "static"},
                       "encoder_pool": {"num_replicas": 1}})
    assert spec.encoder_pool.encoder == "static"
    spec = parse_spec({**SYNTHETIC, "env": {**SYNTHETIC["env"], "encoder": "minilm"},
                       "encoder_pool": {"num_replicas": 1}})
    assert spec.encoder_pool.encoder == "minilm"

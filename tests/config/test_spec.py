"""Experiment specs: typed parsing, defaults from presets, errors naming path/value/allowed."""

from __future__ import annotations

import pytest

from marlrec.config.loading import apply_overrides, load_spec
from marlrec.config.spec import SpecError, parse_spec

GOOD = {
    "name": "tiny",
    "env": {"preset": "creator_economy", "params": {"num_sessions": 4, "catalog": "synthetic",
                                                     "user_model": {"budget": 30.0}}},
    "sharing": "independent",
    "algorithms": ["PPO"],
    "seeds": [0, 1],
    "stop": {"env_steps": 400},
    "resources": {"num_env_runners": 0},
    "logging": {"wandb_mode": "disabled"},
    "evaluation": {"episodes": 2, "baselines": ["random"]},
}


def test_a_good_spec_parses_with_role_defaults_from_the_preset():
    spec = parse_spec(GOOD)
    assert spec.learned_roles == ["slate_policy", "provider"]  # creator_economy
    assert spec.roles["user"].behaviour == "choice_model"  # the default scripted user
    assert spec.roles["slate_policy"].behaviour is None
    assert spec.resources.num_envs_per_env_runner == 1  # default
    assert spec.to_dict()["env"]["params"]["user_model"] == {"budget": 30.0}
    assert spec.sharing == ["independent"]  # one mode given as a string
    assert spec.model.slate_actor is None  # the algorithm's default
    scripted_slates = parse_spec({**GOOD, "algorithms": ["DQN"], "evaluation": {},
                                  "roles": {"slate_policy": {"learned": False}}})
    assert scripted_slates.evaluation.baselines == ["static", "follow_the_trend"]


def test_the_grid_takes_several_sharing_modes_and_algorithms():
    spec = parse_spec({**GOOD, "sharing": ["independent", "per_role"],
                       "algorithms": ["PPO", "MAPPO"], "model": {"slate_actor": "mlp"}})
    assert spec.sharing == ["independent", "per_role"]
    assert spec.algorithms == ["PPO", "MAPPO"] and spec.model.slate_actor == "mlp"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"sharnig": "shared"}, "experiment: unknown key(s) ['sharnig']; allowed: ['name', "),
        ({"seeds": "0"}, "experiment.seeds: '0' must be a list"),
        ({"seeds": [0, "one"]}, "experiment.seeds[1]: 'one' must be int, got str"),
        ({"seeds": [1, 1]}, "experiment.seeds: [1, 1] must be a non-empty list of distinct"),
        ({"sharing": "federated"}, "experiment.sharing: 'federated' is not one of "
                                   "['independent', 'per_role', 'shared', 'consensus']"),
        ({"algorithms": ["SAC"]}, "experiment.algorithms[0]: 'SAC' is not one of "
                                  "['PPO', 'MAPPO', 'APPO', 'IMPALA', 'DQN', 'SlateQ', "
                                  "'SlateQ-CTDE']"),
        ({"sharing": ["per_role", "federated"]}, "experiment.sharing[1]: 'federated' is not "
                                                 "one of"),
        ({"sharing": ["shared", "shared"]}, "experiment.sharing: ['shared', 'shared'] must "
                                            "name distinct modes"),
        ({"algorithms": ["DQN"], "roles": {"slate_policy": {"learned": False}},
          "model": {"slate_actor": "candidate_scoring"}},
         "experiment.model.slate_actor: 'candidate_scoring' is not available with DQN; it "
         "offers ['mlp']"),
        ({"model": {"slate_actor": "pointer"}}, "experiment.model.slate_actor: 'pointer' is not "
                                                "one of ['candidate_scoring', 'mlp']"),
        ({"model": {"fcnet_hiddens": [64, 0]}}, "experiment.model.fcnet_hiddens: [64, 0] must "
                                                "be a non-empty list of positive layer sizes"),
        ({"model": {"fcnet_activation": "gelu"}}, "experiment.model.fcnet_activation: 'gelu' "
                                                  "is not one of ['tanh', 'relu']"),
        ({"algorithms": ["PPO", "DQN"]}, "experiment.algorithms[1]: 'DQN' cannot learn role(s) "
                                         "['slate_policy'] (actions ['multi_discrete'])"),
        ({"stop": {"env_steps": 0}}, "experiment.stop.env_steps: 0 must be >= 1"),
        ({"stop": {"steps": 10}}, "experiment.stop: unknown key(s) ['steps']; allowed: "
                                  "['env_steps']"),
        ({"env": {"preset": "netflix"}}, "experiment.env.preset: 'netflix' is not one of"),
        ({"env": {"params": {"num_sesions": 3}}}, "experiment.env.params: unknown key(s) "
                                                  "['num_sesions']"),
        ({"env": {"params": {"slate_size": 0}}}, "experiment.env.params: slate_size=0 must be "
                                                 "an integer >= 1"),
        ({"env": {"params": {"catalog": "netflix"}}}, "experiment.env.params.catalog: "
                                                      "'netflix' is not one of"),
        ({"roles": {"critic": {}}}, "experiment.roles: unknown role(s) ['critic']"),
        ({"roles": {"user": {"learned": False, "behaviour": "oracle"}}},
         "experiment.roles.user.behaviour: 'oracle' is not one of ['choice_model']"),
        ({"roles": {"user": {"learned": "yes"}}},
         "experiment.roles.user.learned: 'yes' must be bool, got str"),
        ({"roles": {"slate_policy": {"behaviour": "random"}}},
         "experiment.roles.slate_policy.behaviour: 'random' given for a learned role"),
        ({"env": {"preset": "interest_evolution"},
          "roles": {"slate_policy": {"learned": False}}}, "experiment.roles: no role is learned"),
        ({"logging": {"wandb_mode": "cloud"}}, "experiment.logging.wandb_mode: 'cloud' is not "
                                               "one of ['offline', 'online', 'disabled']"),
        ({"evaluation": {"baselines": ["oracle"]}}, "experiment.evaluation.baselines[0]: "
                                                    "'oracle' is not one of"),
        ({"encoder_pool": {"num_replicas": 2}}, "experiment.encoder_pool: given with "
                                                "env.encoder='hashing'"),
        ({"env": {"encoder": "minilm"}, "encoder_pool": {"num_replicas": 0}},
         "experiment.encoder_pool: encoder_pool.num_replicas=0 must be >= 1"),
        ({"env": {"encoder": "minilm"}, "encoder_pool": {"replicas": 2}},
         "experiment.encoder_pool: unknown key(s) ['replicas']; allowed: ['encoder', "
         "'num_replicas',"),
        ({"env": {"encoder": "static"}, "encoder_pool": {"encoder": "minilm"}},
         "experiment.encoder_pool.encoder: 'minilm' differs from env.encoder 'static'"),
        ({"env": {"encoder": "minilm"}, "encoder_pool": {"encoder": "bert"}},
         "encoder_pool.encoder='bert' must be one of ['minilm', 'static']"),
        ({"env": {"encoder": "minilm", "state_encoder": "bert"}},
         "experiment.env.state_encoder: 'bert' is not one of ['hashing', 'minilm', 'static']"),
        ({"env": {"encoder": "minilm", "state_encoder": "hashing"}},
         "experiment.env.state_encoder: 'hashing' cannot encode user texts beside env.encoder "
         "'minilm'"),
        ({"env": {"encoder": "minilm", "state_encoder": "static"},
          "encoder_pool": {"encoder": "minilm"}},
         "experiment.encoder_pool.encoder: 'minilm' differs from env.state_encoder 'static'; "
         "leave it out (the pool serves env.state_encoder)"),
        ({"evaluation": {"baselines": ["collaborative_filtering"]}},
         "experiment.evaluation.baselines[0]: 'collaborative_filtering' is not one of"),
        ({"evaluation": {"every_env_steps": 300}}, "experiment.evaluation.every_env_steps: 300 "
                                                   "must divide stop.env_steps (400)"),
        ({"name": "my run"}, "experiment.name: 'my run' must be a non-empty name"),
        ({"evaluation": {"env_params": {"num_sesions": 3}}},
         "experiment.evaluation.env_params: unknown key(s) ['num_sesions']"),
        ({"evaluation": {"env_params": {"cold_start": {"include_cold": "yes"}}}},
         "experiment.evaluation.env_params: cold_start.include_cold='yes' must be true or "
         "false"),
        ({"evaluation": {"env_params": {"user_state": "id", "horizon": 50}}},
         "experiment.evaluation.env_params: ['user_state'] cannot differ from training"),
    ],
)
def test_bad_specs_name_the_key_path_value_and_what_is_allowed(patch, message):
    with pytest.raises(SpecError) as err:
        parse_spec({**GOOD, **patch})
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_items": 0}, "experiment.env.params.num_items: 0 must be an integer >= 2"),
        ({"num_items": 12.5}, "experiment.env.params.num_items: 12.5 must be an integer >= 2"),
        ({"num_topics": 1}, "experiment.env.params.num_topics: 1 must be an integer >= 2"),
        ({"num_users": "many"}, "experiment.env.params.num_users: 'many' must be an integer "
                                ">= 1"),
        ({"num_providers": 0}, "experiment.env.params.num_providers: 0 must be an integer "
                               ">= 1 or null"),
        ({"catalog": "movielens-100k", "num_providers": 1},
         "experiment.env.params.num_providers: 1 must be an integer >= 2 for catalog "
         "'movielens-100k'"),
        ({"catalog_seed": -3}, "experiment.env.params.catalog_seed: -3 must be an integer >= 0"),
        ({"catalog_seed": True}, "experiment.env.params.catalog_seed: True must be an integer"),
        ({"holdout": 1.0}, "experiment.env.params.holdout: 1.0 must be a number in [0, 1)"),
        ({"holdout": -0.1}, "experiment.env.params.holdout: -0.1 must be a number in [0, 1)"),
        ({"holdout": "20%"}, "experiment.env.params.holdout: '20%' must be a number in [0, 1)"),
        ({"holdout_seed": 0.5}, "experiment.env.params.holdout_seed: 0.5 must be an integer "
                                ">= 0"),
        ({"data_dir": 7}, "experiment.env.params.data_dir: 7 must be a folder path, or null"),
        ({"catalog": 3}, "experiment.env.params.catalog: 3 is not one of ['synthetic', "
                         "'movielens-100k', 'recsim']"),
    ],
)
def test_bad_catalog_values_name_the_key_path_value_and_what_is_allowed(params, message):
    with pytest.raises(SpecError) as err:
        parse_spec({**GOOD, "env": {"preset": "creator_economy", "params": params}})
    assert message in str(err.value)


def test_catalog_values_are_checked_over_the_presets_catalog_defaults():
    # recsim_interest_evolution's catalog is "recsim": num_providers does not apply there,
    # the sizes do
    spec = parse_spec({**GOOD, "env": {"preset": "recsim_interest_evolution", "params": {
        "num_items": 300, "num_users": 50}}, "evaluation": {}})
    assert spec.env.params == {"num_items": 300, "num_users": 50}
    with pytest.raises(SpecError, match="experiment.env.params.num_items: 1 must be an "):
        parse_spec({**GOOD, "env": {"preset": "recsim_interest_evolution",
                                    "params": {"num_items": 1}}})


def test_the_movielens_data_must_be_fetched_where_the_spec_says(tmp_path):
    params = {"catalog": "movielens-100k", "data_dir": str(tmp_path / "empty")}
    with pytest.raises(SpecError) as err:
        parse_spec({**GOOD, "env": {"preset": "creator_economy", "params": params}})
    message = str(err.value)
    assert message.startswith(f"experiment.env.params.data_dir: {str(tmp_path / 'empty')!r} "
                              "must be the folder that MovieLens-100k was fetched into")
    assert "run `marlrec data fetch movielens-100k`" in message
    # A spec for another machine (a cluster that fetches the data itself) can skip the check.
    spec = parse_spec({**GOOD, "env": {"preset": "creator_economy", "params": params}},
                      check_data=False)
    assert spec.env.params["data_dir"] == str(tmp_path / "empty")


def test_the_held_out_split_cannot_differ_between_training_and_evaluation():
    with pytest.raises(SpecError, match=r"evaluation.env_params: \['holdout_seed'\] cannot "
                                        "differ from training"):
        parse_spec({**GOOD, "evaluation": {"env_params": {"holdout_seed": 1}}})


def test_the_spec_takes_the_catalog_parameters_from_envs():
    import envs
    from marlrec.config import spec

    assert spec._CATALOG_PARAMS == envs.CATALOG_PARAMS
    assert {"holdout", "holdout_seed", "data_dir"} <= set(envs.CATALOG_PARAMS)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env.params.num_items=0", "experiment.env.params.num_items: 0 must be an integer >= 2"),
        ("env.params.holdout=1.5", "experiment.env.params.holdout: 1.5 must be a number in "
                                   "[0, 1)"),
        ("env.params.catalog=movielens-100k", "must be the folder that MovieLens-100k was "
                                              "fetched into"),
    ],
)
def test_marlrec_run_refuses_a_bad_catalog_value_before_ray_starts(override, message,
                                                                   tmp_path, capsys):
    import ray

    from marlrec.cli import main

    if ray.is_initialized():
        pytest.skip("a Ray started by an earlier test would hide whether this one starts it")
    path = tmp_path / "bad_catalog.yaml"
    path.write_text("env:\n  preset: interest_evolution\n  params: {num_sessions: 2}\n"
                    "stop: {env_steps: 100}\nlogging: {wandb_mode: disabled}\n")
    results = tmp_path / "results"
    empty_data = tmp_path / "no_data"  # the movielens case: nothing fetched there
    assert main(["run", str(path), "--set", f"logging.results_dir={results}",
                 "--set", f"env.params.data_dir={empty_data}", "--set", override]) == 2
    assert message in capsys.readouterr().err
    assert not ray.is_initialized()
    assert not results.exists()  # no spec.resolved.yaml, no provenance, nothing


def test_overrides_are_validated_like_the_file(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("env:\n  preset: interest_evolution\nstop: {env_steps: 100}\n")
    spec = load_spec(path, ["stop.env_steps=4000", "env.params.num_sessions=16",
                            "seeds=[3, 4]"])
    assert spec.name == "exp"  # from the file name
    assert spec.stop.env_steps == 4000 and spec.seeds == [3, 4]
    assert spec.env.params == {"num_sessions": 16}
    with pytest.raises(SpecError, match="experiment.stop.env_steps: -5 must be >= 1"):
        load_spec(path, ["stop.env_steps=-5"])
    with pytest.raises(SpecError, match="expected key.path=value"):
        apply_overrides({}, ["stop.env_steps"])
    with pytest.raises(SpecError, match="experiment.stop.env_steps is 100, not a mapping"):
        load_spec(path, ["stop.env_steps.x=1"])


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(SpecError, match="no such experiment spec"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_evaluation_env_params_merge_over_the_training_params_key_by_key():
    from marlrec.config.spec import evaluation_env_params

    spec = parse_spec({**GOOD, "env": {"preset": "interest_evolution", "params": {
        "num_sessions": 4, "cold_start": {"user_share": 0.3, "include_cold": False}}},
        "evaluation": {"env_params": {"cold_start": {"include_cold": True}}}})
    assert evaluation_env_params(spec) == {
        "num_sessions": 4, "cold_start": {"user_share": 0.3, "include_cold": True}}
    assert spec.env.params["cold_start"]["include_cold"] is False  # training unchanged


def test_shipped_experiment_specs_are_valid():
    from pathlib import Path

    experiments = Path(__file__).parents[2] / "experiments"
    shipped = sorted(experiments.glob("**/*.yaml"))
    assert len(shipped) > 10
    for path in shipped:  # valid as specs, whether or not this machine fetched MovieLens
        name = load_spec(path, check_data=False).name
        if path.parent == experiments:  # a top-level spec's results folder is its file's
            assert name == path.stem


def _selection_scores(tmp_path, seeds=(0, 1, 2), evaluation_seed=1000, episodes=10,
                      per_run=50):
    import json

    path = tmp_path / "selection" / "scores.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"seeds": list(seeds), "evaluation_seed": evaluation_seed,
                                "evaluation_episodes": episodes, "episodes_per_run": per_run}))
    return str(path)


def test_a_confirmation_shares_no_training_seed_or_episode_with_its_selection(tmp_path):
    selection = _selection_scores(tmp_path)
    confirm = {**GOOD, "seeds": [10, 11], "evaluation": {"episodes": 2, "seed": 5000,
                                                          "baselines": ["random"]},
               "confirmation": {"hypothesis": "PPO beats random", "selection": selection}}
    assert parse_spec(confirm).confirmation.selection == selection
    with pytest.raises(SpecError, match=r"experiment.confirmation: training seeds \[1\] also "
                                        r"trained the selection run"):
        parse_spec({**confirm, "seeds": [1, 10]})
    # in-training episodes 995..1004 overlap the selection's 1000..1009
    with pytest.raises(SpecError, match=r"evaluation episodes seeded 995\.\.1004 overlap the "
                                        r"selection run's 1000\.\.1009"):
        parse_spec({**confirm, "evaluation": {"episodes": 10, "seed": 995,
                                              "baselines": ["random"]}})
    # absolute-metric episodes: the selection's run 0 plays 1001000..1001049
    with pytest.raises(SpecError, match=r"overlap the selection run's 1001000\.\.1001049"):
        parse_spec({**confirm, "evaluation": {"episodes": 5, "seed": 1040,
                                              "baselines": ["random"]}})
    with pytest.raises(SpecError, match=r"confirmation.hypothesis: empty"):
        parse_spec({**confirm, "confirmation": {"hypothesis": " ", "selection": selection}})
    with pytest.raises(SpecError, match=r"confirmation.selection: '.*nowhere.json' is not a "
                                        r"readable scores.json"):
        parse_spec({**confirm, "confirmation": {"hypothesis": "h",
                                                "selection": str(tmp_path / "nowhere.json")}})


def test_shipped_confirmations_are_disjoint_from_their_selection_runs(monkeypatch):
    from pathlib import Path

    root = Path(__file__).parents[2]
    monkeypatch.chdir(root)  # selection paths are relative to the repository
    for path in sorted(root.glob("experiments/**/*.yaml")):
        spec = load_spec(path, check_data=False)
        if spec.confirmation is not None:
            from marlrec.config.spec import _check_confirmation

            _check_confirmation(spec, "experiment.confirmation", check_files=True)


def test_the_pool_serves_the_state_encoder_and_the_envs_get_its_client_there():
    """``env.state_encoder`` differs from ``env.encoder``: the pool serves the user-state
    encoder; the item encoder stays in-process (its name in env_config)."""
    from marlrec.evaluation.protocol import env_encoders

    split = parse_spec({**GOOD, "env": {"encoder": "minilm", "state_encoder": "static"},
                        "encoder_pool": {"num_cpus": 0}})
    assert split.encoder_pool.encoder == "static"
    client = object()
    assert env_encoders(split, client) == {"encoder": "minilm", "state_encoder": client}
    assert env_encoders(split) == {"encoder": "minilm", "state_encoder": "static"}
    same = parse_spec({**GOOD, "env": {"encoder": "minilm"}, "encoder_pool": {}})
    assert same.encoder_pool.encoder == "minilm" and same.env.state_encoder is None
    assert env_encoders(same, client) == {"encoder": client, "state_encoder": client}
    no_pool = parse_spec({**GOOD, "env": {"encoder": "minilm"}})
    assert env_encoders(no_pool, client) == {"encoder": client, "state_encoder": client}


def test_variants_are_a_grid_axis_of_env_param_overrides():
    from marlrec.config.spec import TrainingGroup, training_groups, variant_spec

    spec = parse_spec({**GOOD, "env": {**GOOD["env"], "params": {
        **GOOD["env"]["params"], "objective": {"engagement": 1.0, "clicks": 0.5}}},
        "variants": {"engagement": {}, "fair_2": {"objective": {"exposure_fairness": 2}}}})
    groups = training_groups(spec)
    assert groups == [TrainingGroup("PPO", "independent", "engagement"),
                      TrainingGroup("PPO", "independent", "fair_2")]
    assert [g.name for g in groups] == ["PPO-independent-engagement", "PPO-independent-fair_2"]
    assert groups[1].label == "PPO independent fair_2"
    assert variant_spec(spec, None) is spec
    fair = variant_spec(spec, "fair_2").env.params
    assert fair["objective"] == {"engagement": 1.0, "clicks": 0.5, "exposure_fairness": 2}
    assert fair["user_model"] == {"budget": 30.0}  # the rest of env.params as it was
    plain = parse_spec(GOOD)
    assert [g.name for g in training_groups(plain)] == ["PPO-independent"]


@pytest.mark.parametrize(("variants", "message"), [
    ({}, "experiment.variants: empty"),
    ({"fair 2": {}}, "experiment.variants: variant name 'fair 2' must be letters"),
    ({"big": {"num_sessions": 8}}, "experiment.variants.big: key(s) ['num_sessions'] cannot "
                                   "vary between variants"),
    ({"bad": {"objective": {"fairness": 1}}}, "experiment.variants.bad: unknown objective "
                                              "parameter(s) ['fairness']"),
    ({"bad": {"objective": {"clicks": "x"}}}, "objective.clicks='x' must be a finite number"),
    ({"bad": []}, "experiment.variants.bad: [] must be a mapping"),
    ({"bad": {"privacy_epsilon": 0}}, "privacy_epsilon=0 must be a finite number > 0"),
])
def test_bad_variants_name_the_key_value_and_what_is_allowed(variants, message):
    with pytest.raises(SpecError) as info:
        parse_spec({**GOOD, "variants": variants})
    assert message in str(info.value)


def test_a_bad_objective_in_env_params_names_the_path():
    bad = {**GOOD, "env": {**GOOD["env"], "params": {"objective": {"novelty": True}}}}
    with pytest.raises(SpecError, match=r"experiment.env.params: objective.novelty=True must"):
        parse_spec(bad)


@pytest.mark.parametrize(("search", "message"), [
    ({"space": {}}, "experiment.search.space: empty"),
    ({"space": {"learning_rate": {"uniform": [0, 1]}}},
     "experiment.search.space.learning_rate: 'learning_rate' is not a training key of PPO"),
    ({"space": {"lr": {"normal": [0, 1]}}}, "must be one of ['loguniform', 'uniform'"),
    ({"space": {"lr": {"loguniform": [0, 1]}}}, "experiment.search.space.lr.loguniform: "
                                                "[0, 1] needs low > 0"),
    ({"space": {"lr": {"uniform": [1, 0]}}}, "must be [low, high] numbers with low < high"),
    ({"space": {"lr": {"choice": [0.1]}}, "scheduler": "hyperband"},
     "experiment.search.scheduler: 'hyperband' is not one of ['asha', 'pbt']"),
    ({"space": {"lr": {"choice": [0.1]}}, "seed": 1}, "experiment.search.seed: 1 also "
                                                      "trains the comparison"),
    ({"space": {"lr": {"choice": [0.1]}}, "evaluation_seed": 1001},
     "experiment.search.evaluation_seed: tuning episodes 1001..1002 overlap"),
])
def test_bad_searches_name_the_key_value_and_what_is_allowed(search, message):
    with pytest.raises(SpecError) as info:
        parse_spec({**GOOD, "evaluation": {"episodes": 2, "seed": 1000,
                                           "baselines": ["random"]}, "search": search})
    assert message in str(info.value)


def test_an_algorithms_own_training_block_overrides_the_shared_keys():
    from marlrec.config.spec import training_of

    spec = parse_spec({**GOOD, "algorithms": ["PPO", "SlateQ"],
                       "roles": {"slate_policy": {"learned": True},
                                 "user": {"learned": False}, "provider": {"learned": False}},
                       "training": {"lr": 0.001, "PPO": {"num_epochs": 4},
                                    "SlateQ": {"n_step": 50, "lr": 0.01}}})
    assert training_of(spec, "PPO") == {"lr": 0.001, "num_epochs": 4}
    assert training_of(spec, "SlateQ") == {"lr": 0.01, "n_step": 50}
    with pytest.raises(SpecError, match=r"experiment.training.PPO: unknown key\(s\) \['n_step'\]"):
        parse_spec({**GOOD, "training": {"PPO": {"n_step": 3}}})
    with pytest.raises(SpecError, match="experiment.training.DQN: a block for DQN, which is "
                                        "not in algorithms"):
        parse_spec({**GOOD, "training": {"DQN": {"lr": 0.1}}})

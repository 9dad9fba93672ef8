"""Experiment specs: YAML validated into typed dataclasses before anything runs.

A spec separates the task (``env``: preset and parameters), who learns (``roles``), how
agents share modules (``sharing``), the algorithms, the seeds, the budget (``stop``),
``resources``, ``logging`` and ``evaluation``, BenchMARL style. Every key is checked: a
wrong key, type or value raises :class:`SpecError` naming the key path, the value and what
is allowed, e.g. ``experiment.roles.user.behaviour: 'oracle' is not one of
['choice_model']``.

    name: quickstart
    env:
      preset: interest_evolution
      params: {catalog: movielens-100k, num_sessions: 16, user_state: item_mean}
      encoder: minilm            # hashing (default, lexical) | minilm | static
      state_encoder: static      # optional: user texts (default: encoder); items stay encoder's
    roles:                       # optional: defaults come from the preset
      slate_policy: {learned: true}
      user: {learned: false, behaviour: choice_model}
    sharing: per_role            # independent | per_role | shared | consensus, or a list
    consensus_strength: 0.01     # sharing: consensus pulls modules to their role's mean
    algorithms: [PPO, MAPPO]     # PPO | MAPPO | APPO | IMPALA | DQN | SlateQ
    model: {slate_actor: candidate_scoring, fcnet_hiddens: [256, 256]}
    training: {train_batch_size_per_learner: 2000, lr: 0.0003}   # AlgorithmConfig.training
    #   an algorithm's name holds its own keys over the shared ones: {lr: 0.0003,
    #   PPO: {num_epochs: 4}, SlateQ: {n_step: 200}}
    seeds: [0, 1, 2]
    stop: {env_steps: 20000}
    resources: {num_env_runners: 1, num_envs_per_env_runner: 1}
    logging: {wandb_mode: offline, wandb_project: marlrec, checkpoint_every: 5}
    evaluation: {episodes: 10, seed: 1000, baselines: [random, greedy_by_appeal]}
    encoder_pool: {num_replicas: 2, num_cpus: 1, max_batch_size: 64}   # optional: state_encoder
    variants:                    # optional grid axis: what the platform optimises or sees
      engagement: {}
      fair_2: {objective: {exposure_fairness: 2}}     # env.params merged key by key

``env.params`` takes the :class:`envs.ecosystem.EcosystemConfig` fields and the catalog
parameters (``envs.CATALOG_PARAMS``: ``catalog``, sizes, seeds, ``data_dir``, MovieLens'
``holdout`` and ``holdout_seed``), all checked here: every value by
:func:`envs.check_catalog_params` over the preset's defaults, including, for MovieLens, that
the data was fetched into ``data_dir`` (``parse_spec(..., check_data=False)`` skips that
one check of this machine).

``encoder_pool`` (keys of :class:`marlrec.encoder.pool.EncoderPoolConfig`) serves the
user-state encoder (``env.state_encoder``, else ``env.encoder``) from Ray actors for the
whole experiment instead of one copy per env runner (the item vectors too when
``env.encoder`` is the same).

``variants`` (optional) names env.params overrides that are another axis of the grid: each
variant is trained and evaluated like an algorithm (its own policy in the report, e.g.
``PPO per_role fair_2``), in envs whose params are ``env.params`` merged with the
variant's, key by key. A variant changes the platform, not the world the policies are
compared in: its keys are :data:`VARIANT_PARAMS` (the objective, what the platform observes);
the baselines play in ``env.params`` itself.

Tune runs the grid ``algorithms x sharing x variants x seeds`` (:func:`training_groups`:
one Tune experiment per algorithm, sharing mode and variant).

Spec files are read by :mod:`marlrec.config.loading` (``base:`` includes, then ``--set
key.path=value`` overrides applied to the raw mapping before validation, so they are checked
the same way). This module imports neither Ray nor torch: the CLI validates a spec before
either loads.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import envs
from envs.ecosystem import EcosystemConfig
from envs.metrics import METRICS
from marlrec.algorithms import ALGORITHMS
from marlrec.algorithms.algorithm import SLATE_ACTORS
from marlrec.encoder.pool_config import POOL_ENCODERS, EncoderPoolConfig
from marlrec.evaluation.baselines import default_baselines, offered_baselines
from marlrec.training.sharing import SHARING_MODES

ROLES = envs.ROLES
ACTIVATIONS = ("tanh", "relu")
WANDB_MODES = ("offline", "online", "disabled")
SELECTION_METRICS = tuple(name for name, m in METRICS.items() if m.selectable)
"""Episode metrics that can pick the best checkpoint and head the report
(``evaluation.metric``): the registry's selectable ones (:data:`envs.metrics.METRICS`)."""
_CATALOG_PARAMS = envs.CATALOG_PARAMS
"""The catalog parameters of ``env.params`` (owned and checked by :mod:`envs.presets`)."""


_FIXED_FOR_EVALUATION = ("num_sessions", "num_candidates", "slate_size", "user_state",
                         "reveal_quality", "reveal_exposure", "item_attributes", "intent",
                         *_CATALOG_PARAMS)
"""Env params that fix the learned modules' agents, spaces or item/user ids, or the
catalog and its ratings split (the held-out ratings the offline ranking scores)."""


VARIANT_PARAMS = ("objective", "privacy_epsilon", "user_state", "observation_dim",
                  "reveal_quality", "reveal_exposure", "item_attributes", "retrieval_share",
                  "retrieval_dim")
"""The env params a variant may set: what the platform optimises and observes, none of
the simulated world (catalog, users, providers, sessions) the comparison is made in."""


class SpecError(ValueError):
    """A spec key has a wrong name, type or value; the message names all three."""


ENCODERS = ("hashing", "minilm", "static")
"""``env.encoder``: ``hashing`` (lexical, no model), ``minilm`` (all-MiniLM-L6-v2) or
``static`` (a static token-embedding table distilled from it: ~100x faster on a CPU)."""


@dataclass(frozen=True)
class EnvSpec:
    preset: str = "interest_evolution"
    params: dict[str, Any] = field(default_factory=dict)
    encoder: str = "hashing"  # "minilm": all-MiniLM-L6-v2, loaded once per worker process
    # the platform's encoder of user texts (profiles, state texts, intents); None: encoder.
    # The item vectors, and with them the simulated users' tastes, stay encoder's.
    state_encoder: str | None = None


@dataclass(frozen=True)
class RoleSpec:
    learned: bool = True
    behaviour: str | None = None  # the scripted behaviour when not learned


@dataclass(frozen=True)
class ModelSpec:
    """The learned modules. ``slate_actor``: ``candidate_scoring`` (one MLP scores each
    candidate; PPO, MAPPO, APPO, IMPALA) or ``mlp`` (an MLP on the flattened observation); ``None``
    takes the algorithm's default (see ``marlrec.training.rllib_config``)."""

    slate_actor: str | None = None
    fcnet_hiddens: list[int] = field(default_factory=lambda: [256, 256])
    fcnet_activation: str = "tanh"
    scorer_hiddens: list[int] = field(default_factory=lambda: [64, 64])
    id_embedding_dim: int = 32  # the env's user_state="id": learned user / item embeddings


@dataclass(frozen=True)
class StopSpec:
    env_steps: int = 20_000


@dataclass(frozen=True)
class ResourcesSpec:
    num_env_runners: int = 1
    num_envs_per_env_runner: int = 1
    num_learners: int = 0
    num_gpus_per_learner: float = 0.0
    # custom Ray resources each env runner asks for, e.g. {rollout: 1} to place env
    # runners on cluster.yaml's cpu_rollout nodes
    env_runner_resources: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LoggingSpec:
    wandb_mode: str = "offline"
    wandb_project: str = "marlrec"
    wandb_group: str | None = None
    checkpoint_every: int = 5
    results_dir: str = "results"


@dataclass(frozen=True)
class EvaluationSpec:
    """See :mod:`marlrec.evaluation.protocol`: ``episodes`` per evaluation on fixed seeds from
    ``seed``, each time training crosses a multiple of ``every_env_steps`` env steps (the
    same points for every algorithm, whatever its iteration size); the absolute metric
    re-evaluates each run's best modules on ``absolute_factor x episodes`` episodes;
    ``metric`` picks the best and is the headline of the report."""

    episodes: int = 10
    seed: int = 1000
    every_env_steps: int | None = None  # None: once, at the end of training
    absolute_factor: int = 10
    metric: str = "engagement_per_session"
    # None: random and greedy_by_appeal slates when the slate policy learns, else the
    # scripted behaviours of the learned roles
    baselines: list[str] | None = None
    # env params of the evaluation envs, merged over env.params (dicts key by key), e.g.
    # {cold_start: {include_cold: true}}: train without new users and items, evaluate with
    env_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfirmationSpec:
    """A confirmatory run: the ``hypothesis`` it tests, written before it runs, and the
    ``selection`` run whose choice it confirms (the path of that run's ``scores.json``,
    relative to the working directory). Its training seeds and every evaluation episode
    seed (in-training and absolute-metric) must be disjoint from the selection run's:
    checked when the spec is validated, before anything runs."""

    hypothesis: str = ""
    selection: str = ""


@dataclass(frozen=True)
class OfflineSpec:
    """``marlrec log``: the logging policy (the Plackett-Luce softmax of ``baseline``'s
    candidate scores at ``temperature``), the episodes logged from ``seed``, the target
    policies whose values are estimated from the logs, the log ``sizes`` the estimators
    are studied at and the ``repeats`` samples per size (:mod:`marlrec.offline`); ``train``
    names RLlib offline algorithms (BC, MARWIL) that learn slate policies from the logs,
    evaluated online (:mod:`marlrec.offline.training`)."""

    baseline: str = "greedy_by_appeal"
    temperature: float = 1.0
    episodes: int = 20
    seed: int = 50_000
    targets: list[str] = field(default_factory=lambda: ["greedy_by_appeal", "popularity",
                                                        "random"])
    sizes: list[int] = field(default_factory=lambda: [250, 1000, 4000])
    repeats: int = 20
    # offline RL from the logs (marlrec.offline.training): one run per training seed,
    # evaluated online on the evaluation protocol's episodes
    train: list[str] = field(default_factory=list)  # BC | MARWIL
    train_iterations: int = 100
    train_lr: float = 0.0005
    train_batch_size: int = 1024
    marwil_beta: float = 1.0


SEARCH_DOMAINS = ("loguniform", "uniform", "choice", "randint")
SEARCH_SCHEDULERS = ("asha", "pbt")


@dataclass(frozen=True)
class SearchSpec:
    """A hyperparameter search before the comparison (:mod:`marlrec.training.search`):
    ``space`` maps training keys to Tune domains (``{loguniform: [low, high]}``,
    ``{uniform: [low, high]}``, ``{choice: [values]}``, ``{randint: [low, high]}``),
    ``num_samples`` configurations are trained with training seed ``seed`` and evaluated
    on episodes from ``evaluation_seed``, both disjoint from the comparison's, under ASHA
    (early stopping) or PBT (exploit and explore every evaluation). Each algorithm x
    sharing x variant group's winner is then trained on the spec's seeds and evaluated on
    its episodes, like every policy."""

    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    scheduler: str = "asha"
    num_samples: int = 4
    seed: int = 10_000
    evaluation_seed: int = 5_000_000


ABSOLUTE_SEED_STRIDE = 1_000_000
"""Run ``r``'s absolute-metric episodes start at ``evaluation.seed + STRIDE * (r + 1)``."""


def absolute_seed_of(evaluation_seed: int, run: int) -> int:
    """First episode seed of run ``run``'s absolute-metric evaluation."""
    return evaluation_seed + ABSOLUTE_SEED_STRIDE * (run + 1)


def episode_seeds(evaluation_seed: int, episodes: int, runs: int, absolute_episodes: int
                  ) -> list[range]:
    """Every evaluation episode seed of an experiment: the in-training evaluations'
    ``evaluation_seed + e`` and each run's absolute-metric episodes."""
    first = [absolute_seed_of(evaluation_seed, r) for r in range(runs)]
    return [range(evaluation_seed, evaluation_seed + episodes),
            *(range(a, a + absolute_episodes) for a in first)]


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    env: EnvSpec = field(default_factory=EnvSpec)
    roles: dict[str, RoleSpec] = field(default_factory=dict)
    sharing: list[str] = field(default_factory=lambda: ["per_role"])
    consensus_strength: float = 0.01  # penalty on ||theta - role mean||^2
    algorithms: list[str] = field(default_factory=lambda: ["PPO"])
    model: ModelSpec = field(default_factory=ModelSpec)
    training: dict[str, Any] = field(default_factory=dict)  # see training_of
    seeds: list[int] = field(default_factory=lambda: [0])
    stop: StopSpec = field(default_factory=StopSpec)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    logging: LoggingSpec = field(default_factory=LoggingSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    encoder_pool: EncoderPoolConfig | None = None
    confirmation: ConfirmationSpec | None = None
    # a grid axis: variant name -> env.params overrides (VARIANT_PARAMS keys)
    variants: dict[str, dict[str, Any]] | None = None
    offline: OfflineSpec | None = None  # marlrec log: logged data and off-policy evaluation
    search: SearchSpec | None = None  # a hyperparameter search before the comparison

    @property
    def learned_roles(self) -> list[str]:
        return [r for r in ROLES if self.roles[r].learned]

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved spec, as written next to the results."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainingGroup:
    """One Tune experiment of the grid: an algorithm, a sharing mode and (with
    ``variants``) a variant; its trials are the seeds. ``name`` names its folders
    (``PPO-per_role``, ``PPO-per_role-fair_2``), ``label`` its policy in the report."""

    algorithm: str
    sharing: str
    variant: str | None = None

    @property
    def name(self) -> str:
        return "-".join(p for p in (self.algorithm, self.sharing, self.variant) if p)

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.algorithm, self.sharing, self.variant) if p)


def training_groups(spec: ExperimentSpec) -> list[TrainingGroup]:
    """The grid's groups in order: algorithms, then sharing modes, then variants."""
    variants: list[str | None] = list(spec.variants) if spec.variants else [None]
    return [TrainingGroup(a, s, v) for a in spec.algorithms for s in spec.sharing
            for v in variants]


def variant_spec(spec: ExperimentSpec, variant: str | None) -> ExperimentSpec:
    """The spec whose ``env.params`` are the variant's (``env.params`` merged with the
    variant's overrides); ``spec`` itself for ``None``. Everything that builds an env from a
    spec builds the variant's from it."""
    if variant is None:
        return spec
    params = merged_params(dict(spec.env.params), spec.variants[variant])
    return dataclasses.replace(spec, env=dataclasses.replace(spec.env, params=params))


# ----------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("NoneType", "null")


def _convert(value: Any, tp: Any, path: str) -> Any:
    """``value`` checked against the annotation ``tp`` (dataclasses recursively)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(value, option, path)
            except SpecError as e:
                errors.append(str(e))
        raise SpecError(errors[0])
    if origin is list:
        if not isinstance(value, list):
            raise SpecError(f"{path}: {value!r} must be a list")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SpecError(f"{path}: {value!r} must be a mapping")
        _, item = typing.get_args(tp)
        return {str(k): _convert(v, item, f"{path}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise SpecError(f"{path}: {value!r} must be {_type_name(tp)}, got "
                        f"{type(value).__name__}")
    return value


def _build(cls: type, raw: Any, path: str) -> Any:
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: {raw!r} must be a mapping with keys "
                        f"{[f.name for f in dataclasses.fields(cls)]}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise SpecError(f"{path}: unknown key(s) {unknown}; allowed: {names}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            kwargs[f.name] = _convert(raw[f.name], hints[f.name], f"{path}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SpecError(f"{path}.{f.name}: missing (required)")
    try:
        return cls(**kwargs)
    except ValueError as e:  # a dataclass's own value checks (e.g. EncoderPoolConfig)
        raise SpecError(f"{path}: {e}") from e


def _one_of(path: str, value: Any, allowed: tuple | list) -> None:
    if value not in allowed:
        raise SpecError(f"{path}: {value!r} is not one of {list(allowed)}")


def _at_least(path: str, value: float, low: float) -> None:
    if value < low:
        raise SpecError(f"{path}: {value!r} must be >= {low}")


def _check(spec: ExperimentSpec, check_data: bool = True) -> ExperimentSpec:
    """Value checks beyond types; resolves role defaults from the preset. ``check_data``:
    also check that a MovieLens catalog's data was fetched (on this machine)."""
    p = "experiment"
    if not spec.name or any(c in spec.name for c in "/\\ "):
        raise SpecError(f"{p}.name: {spec.name!r} must be a non-empty name without spaces or "
                        "slashes (it names the results folder)")
    _one_of(f"{p}.env.preset", spec.env.preset, sorted(envs.PRESETS))
    _one_of(f"{p}.env.encoder", spec.env.encoder, ENCODERS)
    state_encoder = spec.env.state_encoder or spec.env.encoder
    if spec.env.state_encoder is not None:
        _one_of(f"{p}.env.state_encoder", spec.env.state_encoder, ENCODERS)
        if (state_encoder == "hashing") != (spec.env.encoder == "hashing"):
            raise SpecError(f"{p}.env.state_encoder: {state_encoder!r} cannot encode user "
                            f"texts beside env.encoder {spec.env.encoder!r}: user states and "
                            "items share one space, so both are hashing or both are one of "
                            "['minilm', 'static'] (384-d)")
    _check_env_params(f"{p}.env.params", dict(spec.env.params), preset=spec.env.preset,
                      check_data=check_data)
    _check_env_params(f"{p}.evaluation.env_params", evaluation_env_params(spec),
                      spec.evaluation.env_params, preset=spec.env.preset, check_data=False)
    fixed = sorted(set(spec.evaluation.env_params) & set(_FIXED_FOR_EVALUATION))
    if fixed:
        raise SpecError(f"{p}.evaluation.env_params: {fixed} cannot differ from training "
                        "(they change the agents, their observations or the catalog the "
                        "modules learned); allowed to differ: the dynamics, e.g. cold_start, "
                        "horizon, user_model, provider_model")

    preset_learned = envs.PRESETS[spec.env.preset].learned_roles
    unknown_roles = sorted(set(spec.roles) - set(ROLES))
    if unknown_roles:
        raise SpecError(f"{p}.roles: unknown role(s) {unknown_roles}; allowed: {list(ROLES)}")
    roles = {}
    for role in ROLES:
        given = spec.roles.get(role, RoleSpec(learned=role in preset_learned))
        path = f"{p}.roles.{role}"
        if given.learned and given.behaviour is not None:
            raise SpecError(f"{path}.behaviour: {given.behaviour!r} given for a learned role; "
                            "set learned: false to script it")
        behaviour = given.behaviour
        if not given.learned:
            behaviour = behaviour or envs.DEFAULT_BEHAVIOURS[role]
            _one_of(f"{path}.behaviour", behaviour, envs.ROLE_BEHAVIOURS[role])
        roles[role] = RoleSpec(learned=given.learned, behaviour=behaviour)
    if not any(r.learned for r in roles.values()):
        raise SpecError(f"{p}.roles: no role is learned; at least one must be")

    if not spec.sharing or len(set(spec.sharing)) != len(spec.sharing):
        raise SpecError(f"{p}.sharing: {spec.sharing!r} must name distinct modes of "
                        f"{list(SHARING_MODES)}")
    for i, mode in enumerate(spec.sharing):
        _one_of(f"{p}.sharing[{i}]" if len(spec.sharing) > 1 else f"{p}.sharing", mode,
                SHARING_MODES)
    if not spec.consensus_strength > 0:
        raise SpecError(f"{p}.consensus_strength: {spec.consensus_strength!r} must be > 0 "
                        "(0 would be sharing: independent)")
    if not spec.algorithms:
        raise SpecError(f"{p}.algorithms: empty; name at least one of {list(ALGORITHMS)}")
    for i, algo in enumerate(spec.algorithms):
        _one_of(f"{p}.algorithms[{i}]", algo, ALGORITHMS)
    _check_capabilities(spec, roles, f"{p}.algorithms")
    _check_model(spec, f"{p}.model")
    if spec.training:
        _check_training(spec, f"{p}.training")
    if not spec.seeds or len(set(spec.seeds)) != len(spec.seeds):
        raise SpecError(f"{p}.seeds: {spec.seeds!r} must be a non-empty list of distinct ints")
    _at_least(f"{p}.stop.env_steps", spec.stop.env_steps, 1)
    r = spec.resources
    _at_least(f"{p}.resources.num_env_runners", r.num_env_runners, 0)
    _at_least(f"{p}.resources.num_envs_per_env_runner", r.num_envs_per_env_runner, 1)
    _at_least(f"{p}.resources.num_learners", r.num_learners, 0)
    _at_least(f"{p}.resources.num_gpus_per_learner", r.num_gpus_per_learner, 0)
    for key, amount in r.env_runner_resources.items():
        _at_least(f"{p}.resources.env_runner_resources.{key}", amount, 1e-4)
    _one_of(f"{p}.logging.wandb_mode", spec.logging.wandb_mode, WANDB_MODES)
    _at_least(f"{p}.logging.checkpoint_every", spec.logging.checkpoint_every, 1)
    _at_least(f"{p}.evaluation.episodes", spec.evaluation.episodes, 1)
    pool = spec.encoder_pool
    if pool is not None:  # the pool serves the user-state encoder
        served = "env.state_encoder" if spec.env.state_encoder else "env.encoder"
        if state_encoder not in POOL_ENCODERS:
            raise SpecError(f"{p}.encoder_pool: given with {served}={state_encoder!r}; "
                            f"a pool serves one of {list(POOL_ENCODERS)}: set {served}")
        if pool.encoder is not None and pool.encoder != state_encoder:
            raise SpecError(f"{p}.encoder_pool.encoder: {pool.encoder!r} differs from "
                            f"{served} {state_encoder!r}; leave it out (the pool serves "
                            f"{served})")
        spec = dataclasses.replace(spec, encoder_pool=dataclasses.replace(
            pool, encoder=state_encoder))
    every = spec.evaluation.every_env_steps or spec.stop.env_steps
    _at_least(f"{p}.evaluation.every_env_steps", every, 1)
    if spec.stop.env_steps % every:
        raise SpecError(f"{p}.evaluation.every_env_steps: {every} must divide "
                        f"stop.env_steps ({spec.stop.env_steps}) so that every run has the "
                        "same evaluation points")
    _at_least(f"{p}.evaluation.absolute_factor", spec.evaluation.absolute_factor, 1)
    _one_of(f"{p}.evaluation.metric", spec.evaluation.metric, SELECTION_METRICS)
    learned = [r for r in ROLES if roles[r].learned]
    catalog = envs.catalog_params(spec.env.preset, spec.env.params, check_data=False)["catalog"]
    baselines = spec.evaluation.baselines
    if baselines is None:
        baselines = default_baselines(learned)
    for i, name in enumerate(baselines):
        _one_of(f"{p}.evaluation.baselines[{i}]", name, offered_baselines(learned, catalog))
    preset_config = dict(envs.PRESETS[spec.env.preset].ecosystem_defaults)
    user_state = dict(spec.env.params).get(
        "user_state", preset_config.get("user_state", EcosystemConfig().user_state))
    scripted = [(f"{p}.roles.{r}.behaviour", roles[r].behaviour) for r in ROLES
                if not roles[r].learned]
    for where, name in [*scripted, *((f"{p}.evaluation.baselines[{i}]", b)
                                     for i, b in enumerate(baselines))]:
        info = envs.BEHAVIOURS.get(name)
        if info is not None and user_state in info.refused_user_states:
            raise SpecError(f"{where}: {name!r} cannot act with env.params.user_state="
                            f"{user_state!r} (its observations lack what it reads); "
                            f"choose another user_state or behaviour")
    if spec.confirmation is not None:
        _check_confirmation(spec, f"{p}.confirmation", check_files=check_data)
    if spec.variants is not None:
        _check_variants(spec, f"{p}.variants", check_data)
    if spec.offline is not None:
        _check_offline(spec, roles, f"{p}.offline")
    if spec.search is not None:
        _check_search(spec, f"{p}.search")
    return dataclasses.replace(spec, roles=roles, evaluation=dataclasses.replace(
        spec.evaluation, every_env_steps=every, baselines=list(baselines)))


def _check_search(spec: ExperimentSpec, path: str) -> None:
    """Domains over training keys every algorithm takes, a known scheduler, and tuning
    seeds and episodes that the comparison never uses."""
    o = spec.search
    if not o.space:
        raise SpecError(f"{path}.space: empty; name at least one training key to search")
    for key, domain in o.space.items():
        where = f"{path}.space.{key}"
        for algo in spec.algorithms:
            if key not in ALGORITHMS[algo].training_keys:
                raise SpecError(f"{where}: {key!r} is not a training key of {algo}; allowed: "
                                f"{sorted(ALGORITHMS[algo].training_keys)}")
        if not isinstance(domain, dict) or len(domain) != 1 or \
                next(iter(domain)) not in SEARCH_DOMAINS:
            raise SpecError(f"{where}: {domain!r} must be one of {list(SEARCH_DOMAINS)} with "
                            "its values, e.g. {loguniform: [0.0001, 0.001]}")
        (kind, values), = domain.items()
        if not isinstance(values, list) or not values:
            raise SpecError(f"{where}.{kind}: {values!r} must be a non-empty list")
        if kind != "choice":
            if len(values) != 2 or not all(isinstance(v, int | float) for v in values) \
                    or not values[0] < values[1]:
                raise SpecError(f"{where}.{kind}: {values!r} must be [low, high] numbers "
                                "with low < high")
            if kind == "loguniform" and values[0] <= 0:
                raise SpecError(f"{where}.loguniform: {values!r} needs low > 0")
    _one_of(f"{path}.scheduler", o.scheduler, SEARCH_SCHEDULERS)
    _at_least(f"{path}.num_samples", o.num_samples, 2)
    if o.seed in spec.seeds:
        raise SpecError(f"{path}.seed: {o.seed} also trains the comparison (seeds "
                        f"{spec.seeds}); tuning needs its own seed")
    e = spec.evaluation
    tuning = range(o.evaluation_seed, o.evaluation_seed + e.episodes)
    for used in episode_seeds(e.seed, e.episodes, len(spec.seeds),
                              e.absolute_factor * e.episodes):
        if tuning.start < used.stop and used.start < tuning.stop:
            raise SpecError(f"{path}.evaluation_seed: tuning episodes {tuning.start}.."
                            f"{tuning.stop - 1} overlap the comparison's {used.start}.."
                            f"{used.stop - 1}; choose one whose episodes it never plays")


def _check_offline(spec: ExperimentSpec, roles: dict[str, RoleSpec], path: str) -> None:
    """A logging baseline that ranks by a score, targets the study can value, increasing
    sizes, and scripted choice-model users (the truth is their expected response)."""
    import math

    from marlrec.offline.logging_policy import MAX_SLATES, SCORED_BASELINES
    from marlrec.offline.logs import TARGET_BASELINES

    o = spec.offline
    _one_of(f"{path}.baseline", o.baseline, sorted(SCORED_BASELINES))
    if not o.temperature > 0:
        raise SpecError(f"{path}.temperature: {o.temperature!r} must be > 0")
    _at_least(f"{path}.episodes", o.episodes, 1)
    _at_least(f"{path}.repeats", o.repeats, 2)
    if not o.targets or len(set(o.targets)) != len(o.targets):
        raise SpecError(f"{path}.targets: {o.targets!r} must name distinct policies of "
                        f"{list(TARGET_BASELINES)}")
    for i, target in enumerate(o.targets):
        _one_of(f"{path}.targets[{i}]", target, TARGET_BASELINES)
    if not o.sizes or any(n < 2 for n in o.sizes) or sorted(set(o.sizes)) != o.sizes:
        raise SpecError(f"{path}.sizes: {o.sizes!r} must be increasing log sizes >= 2")
    for i, algorithm in enumerate(o.train):
        _one_of(f"{path}.train[{i}]", algorithm, ("BC", "MARWIL"))
    _at_least(f"{path}.train_iterations", o.train_iterations, 1)
    _at_least(f"{path}.train_batch_size", o.train_batch_size, 1)
    _at_least(f"{path}.marwil_beta", o.marwil_beta, 0)
    if not o.train_lr > 0:
        raise SpecError(f"{path}.train_lr: {o.train_lr!r} must be > 0")
    for role in ("user", "provider"):
        if roles[role].learned:
            raise SpecError(f"{path}: the {role} role is learned; marlrec log scripts users "
                            "and providers (roles.<role>.learned: false)")
    if roles["user"].behaviour != "choice_model":
        raise SpecError(f"{path}: users behave by {roles['user'].behaviour!r}; the true "
                        "values are the choice model's expected responses, so users must be "
                        "choice_model")
    params = {**dict(envs.PRESETS[spec.env.preset].ecosystem_defaults), **spec.env.params}
    c = params.get("num_candidates", EcosystemConfig().num_candidates)
    s = params.get("slate_size", EcosystemConfig().slate_size)
    if math.perm(c, s) > MAX_SLATES:
        raise SpecError(f"{path}: {math.perm(c, s)} ordered slates of {s} among {c} "
                        f"candidates; the exact propensities enumerate at most {MAX_SLATES}")


def _check_variants(spec: ExperimentSpec, path: str, check_data: bool) -> None:
    """Variant names are folder- and table-safe; their keys are :data:`VARIANT_PARAMS`;
    the merged params (and their evaluation params) are valid env params."""
    import re

    if not spec.variants:
        raise SpecError(f"{path}: empty; name at least one variant (or leave the key out)")
    for name, params in spec.variants.items():
        if not re.fullmatch(r"[A-Za-z0-9_.=]+", name):
            raise SpecError(f"{path}: variant name {name!r} must be letters, digits, '_', "
                            "'.' or '=' (it names folders and table rows)")
        unknown = sorted(set(params) - set(VARIANT_PARAMS))
        if unknown:
            raise SpecError(f"{path}.{name}: key(s) {unknown} cannot vary between variants "
                            f"(they change the world the policies are compared in); "
                            f"allowed: {list(VARIANT_PARAMS)}")
        resolved = variant_spec(spec, name)
        _check_env_params(f"{path}.{name}", dict(resolved.env.params), params,
                          preset=spec.env.preset, check_data=check_data)
        _check_env_params(f"{path}.{name}", evaluation_env_params(resolved), params,
                          preset=spec.env.preset, check_data=False)


def _check_confirmation(spec: ExperimentSpec, path: str, check_files: bool) -> None:
    """A confirmatory run shares no training seed and no evaluation episode with the run
    whose choice it confirms (read from its ``scores.json`` unless ``check_files`` is
    false: a spec re-read next to its results was checked when it ran)."""
    import json

    c = spec.confirmation
    if not c.hypothesis.strip():
        raise SpecError(f"{path}.hypothesis: empty; state what the run confirms before it runs")
    if not check_files:
        return
    selection = Path(c.selection)
    try:
        chosen = json.loads(selection.read_text())
    except (OSError, ValueError) as e:
        raise SpecError(f"{path}.selection: {c.selection!r} is not a readable scores.json of "
                        f"the selection run ({e})") from e
    missing = [k for k in ("seeds", "evaluation_seed", "evaluation_episodes",
                           "episodes_per_run") if k not in chosen]
    if missing:
        raise SpecError(f"{path}.selection: {c.selection!r} lacks {missing} (a report written "
                        "before selection runs recorded their evaluation seeds); re-report it "
                        "with `marlrec report`")
    shared = sorted(set(spec.seeds) & set(chosen["seeds"]))
    if shared:
        raise SpecError(f"{path}: training seeds {shared} also trained the selection run "
                        f"{c.selection!r} (its seeds {chosen['seeds']}); a confirmation "
                        "needs fresh ones")
    e = spec.evaluation
    ours = episode_seeds(e.seed, e.episodes, len(spec.seeds), e.absolute_factor * e.episodes)
    theirs = episode_seeds(chosen["evaluation_seed"], chosen["evaluation_episodes"],
                           len(chosen["seeds"]), chosen["episodes_per_run"])
    for a in ours:
        for b in theirs:
            if a.start < b.stop and b.start < a.stop:
                raise SpecError(
                    f"{path}: evaluation episodes seeded {a.start}..{a.stop - 1} overlap the "
                    f"selection run's {b.start}..{b.stop - 1}; choose an evaluation.seed "
                    f"whose episodes played no part in the choice (e.g. "
                    f"{chosen['evaluation_seed'] + 100_000})")


def _check_env_params(path: str, params: dict[str, Any],
                      given: dict[str, Any] | None = None, preset: str = "interest_evolution",
                      check_data: bool = True) -> None:
    """Env params name known keys with values the env accepts; ``given`` (default
    ``params``) are the keys the user wrote at ``path``. Catalog parameters are checked
    over ``preset``'s catalog defaults by :func:`envs.check_catalog_params` (with
    ``check_data``, that MovieLens was fetched into ``data_dir``)."""
    config_fields = {f.name for f in dataclasses.fields(EcosystemConfig)}
    unknown = sorted(set(params if given is None else given) - config_fields
                     - set(_CATALOG_PARAMS))
    if unknown:
        raise SpecError(f"{path}: unknown key(s) {unknown}; allowed: "
                        f"{sorted(config_fields | set(_CATALOG_PARAMS))}")
    try:
        envs.catalog_params(preset, params, check_data=check_data)
    except envs.CatalogParamError as e:
        raise SpecError(f"{path}.{e.param}: {e.value!r} {e.allowed}") from e
    try:
        EcosystemConfig().with_overrides(**{k: v for k, v in params.items()
                                            if k in config_fields})
    except (ValueError, TypeError) as e:
        raise SpecError(f"{path}: {e}") from e


def merged_params(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied, nested dicts merged key by key."""
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged_params(out[key], value)
        else:
            out[key] = value
    return out


def evaluation_env_params(spec: ExperimentSpec) -> dict[str, Any]:
    """The env params of evaluation envs: ``env.params`` updated by
    ``evaluation.env_params``."""
    return merged_params(dict(spec.env.params), dict(spec.evaluation.env_params))


def _check_capabilities(spec: ExperimentSpec, roles: dict[str, RoleSpec], path: str) -> None:
    """Every algorithm must be able to learn every learned role's action space, in every
    sharing mode of the spec."""
    learned = [r for r in ROLES if roles[r].learned]
    for i, algo in enumerate(spec.algorithms):
        refused = ALGORITHMS[algo].refused_roles(learned)
        if refused:
            kinds = [envs.ROLE_ACTION_KINDS[r] for r in refused]
            raise SpecError(f"{path}[{i}]: {algo!r} cannot learn role(s) {refused} (actions "
                            f"{kinds}); script them (roles.<role>.learned: false) or choose "
                            "an algorithm that supports them")
        modes = ALGORITHMS[algo].sharing_modes
        for mode in spec.sharing:
            if mode not in modes:
                raise SpecError(f"{path}[{i}]: {algo!r} does not support sharing {mode!r}; it "
                                f"supports {list(modes)}")


def _check_model(spec: ExperimentSpec, path: str) -> None:
    model = spec.model
    if model.slate_actor is not None:
        _one_of(f"{path}.slate_actor", model.slate_actor, SLATE_ACTORS)
        for algo in spec.algorithms:
            offered = ALGORITHMS[algo].slate_actors
            if model.slate_actor not in offered:
                raise SpecError(f"{path}.slate_actor: {model.slate_actor!r} is not available "
                                f"with {algo}; it offers {list(offered)}")
    _one_of(f"{path}.fcnet_activation", model.fcnet_activation, ACTIVATIONS)
    for name in ("fcnet_hiddens", "scorer_hiddens"):
        sizes = getattr(model, name)
        if not sizes or any(n < 1 for n in sizes):
            raise SpecError(f"{path}.{name}: {sizes!r} must be a non-empty list of positive "
                            "layer sizes")
    _at_least(f"{path}.id_embedding_dim", model.id_embedding_dim, 1)


def training_of(spec: ExperimentSpec, algorithm: str) -> dict[str, Any]:
    """The ``AlgorithmConfig.training()`` keys of ``algorithm``: the spec's shared
    ``training:`` keys, under the keys of its own block (``training.<algorithm>``)."""
    shared = {k: v for k, v in spec.training.items() if k not in ALGORITHMS}
    return {**shared, **spec.training.get(algorithm, {})}


def _check_training(spec: ExperimentSpec, path: str) -> None:
    """Training keys must be parameters of every named algorithm's RLlib ``training()``
    (``Algorithm.training_keys``); an algorithm's own block must name a spec algorithm."""
    for name, block in spec.training.items():
        if name in ALGORITHMS:
            if name not in spec.algorithms:
                raise SpecError(f"{path}.{name}: a block for {name}, which is not in "
                                f"algorithms {spec.algorithms}")
            if not isinstance(block, dict):
                raise SpecError(f"{path}.{name}: {block!r} must be a mapping of {name}'s "
                                "own training keys")
    for algo in spec.algorithms:
        allowed = ALGORITHMS[algo].training_keys
        unknown = sorted(set(training_of(spec, algo)) - allowed)
        if unknown:
            where = f"{path}.{algo}" if set(unknown) & set(spec.training.get(algo, {})) else path
            raise SpecError(f"{where}: unknown key(s) {unknown} for {algo}; allowed: "
                            f"{sorted(allowed)}")


def parse_spec(raw: Any, check_data: bool = True) -> ExperimentSpec:
    """A validated :class:`ExperimentSpec` from a mapping (as loaded from YAML).

    ``check_data=False`` skips the checks that depend on this machine's files, not on the
    spec: that a MovieLens catalog's data was fetched into ``env.params.data_dir`` (for a
    spec that will run elsewhere, e.g. on a cluster whose nodes fetch it) and that a
    confirmation's selection ``scores.json`` is disjoint from it (checked when it ran).
    """
    if isinstance(raw, dict) and isinstance(raw.get("sharing"), str):
        raw = {**raw, "sharing": [raw["sharing"]]}  # one mode, or a list for the grid
    return _check(_build(ExperimentSpec, raw, "experiment"), check_data)

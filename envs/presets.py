"""Named ecosystems: ``envs.make_env(name, **overrides)``.

| preset | learned roles | scripted roles (default behaviour) |
|---|---|---|
| ``interest_evolution`` | slate policy | users (choice model), providers (static) |
| ``creator_economy`` | slate policy, providers | users (choice model) |
| ``strategic_users`` | users, slate policy | providers (static) |
| ``full_ecosystem`` | slate policy, users, providers | none |
| ``recsim_interest_evolution`` | slate policy | users (RecSim's choice model), the one |
|  |  | provider (static) |

``recsim_interest_evolution`` is RecSim's interest_evolution environment (see
:mod:`envs.recsim`): its own catalog (``catalog="recsim"``, 20,000 documents), users
(10,000) and the ecosystem settings in ``envs.recsim.ECOSYSTEM_DEFAULTS``, all
overridable like any preset's.

Overrides: any :class:`envs.ecosystem.EcosystemConfig` field (``num_sessions``,
``num_candidates``, ``slate_size``, ``horizon``, ``user_state``, ...; ``user_model`` and
``provider_model`` as dicts of their fields) plus the catalog parameters below.

| parameter | default | meaning |
|---|---|---|
| ``catalog`` | ``"synthetic"`` | ``"synthetic"``, ``"movielens-100k"`` or ``"recsim"`` |
| ``num_items`` | 500 | synthetic (or recsim) catalog size, an integer >= 2 |
| ``num_topics`` | 20 | synthetic topics, an integer >= 2 |
| ``num_providers`` | 10 (synthetic), 20 (MovieLens) | providers / studios (>= 1; MovieLens >= 2) |
| ``num_users`` | 1000 | synthetic (or recsim) user population, an integer >= 1 |
| ``catalog_seed`` | 0 | seed of the synthetic (or recsim) catalog and users, >= 0 |
| ``data_dir`` | ``envs.movielens.default_data_dir()`` | where MovieLens-100k was fetched |
| ``holdout`` | 0.2 | MovieLens: each user's share of ratings held out of the simulator, [0, 1) |
| ``holdout_seed`` | 0 | MovieLens: the seed of that held-out split, >= 0 |

MovieLens-100k's simulator is built from the **training ratings only**: per user, a random
``holdout`` share of their ratings (:func:`envs.movielens.heldout_split` with
``holdout_seed``) is held out, and the catalog's quality, appeal and prior popularity, the
users' interests and their prior histories all come from the rest. ``env.catalog.ratings``
(a :class:`envs.movielens.RatingSplit`) records the split, so that offline evaluation
(:mod:`marlrec.evaluation.ranking`, the collaborative-filtering baseline) reads the very split the
simulator was built from. The split is seeded apart from any evaluation seed: it is part of
the environment, the same for every run that uses these parameters. ``holdout=0`` builds
the simulator from every rating and leaves nothing for an offline ranking.

:func:`check_catalog_params` checks every catalog parameter's type and range and the
catalog's own constraints (for MovieLens, that the data was fetched); experiment specs
(:mod:`marlrec.config.spec`) run it before anything starts.

The env's own randomness is seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from envs.behaviours import SLATE_BASELINES, ChoiceModelUser, FollowTheTrend, StaticProvider
from envs.catalog import Catalog, movielens_catalog, synthetic_catalog
from envs.ecosystem import ROLES, EcosystemConfig, RecEcosystemEnv
from envs.encoding import TextEncoder
from envs.movielens import (
    DataFileError,
    RatingSplit,
    heldout_split,
    load_movielens_100k,
    movielens_dir,
    movielens_layout,
)
from envs.recsim import ECOSYSTEM_DEFAULTS as RECSIM_ECOSYSTEM
from envs.recsim import RecSimUsers, recsim_catalog
from envs.users import MovieLensUsers, SyntheticUsers

CATALOGS = ("synthetic", "movielens-100k", "recsim")


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    learned_roles: frozenset[str]
    catalog_defaults: tuple[tuple[str, Any], ...] = ()
    ecosystem_defaults: tuple[tuple[str, Any], ...] = ()


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("interest_evolution", "A learned slate policy serves scripted users whose "
               "interests drift; providers are static.", frozenset({"slate_policy"})),
        Preset("creator_economy", "Slate policy and providers learn: providers choose what "
               "to release and leave when starved of exposure.",
               frozenset({"slate_policy", "provider"})),
        Preset("strategic_users", "Users learn how to respond to slates; the slate policy "
               "learns too; providers are static.", frozenset({"slate_policy", "user"})),
        Preset("full_ecosystem", "Every role learns.", frozenset(ROLES)),
        Preset("recsim_interest_evolution", "RecSim's interest_evolution: a learned slate "
               "policy, one user session per episode, one-hot topic documents.",
               frozenset({"slate_policy"}),
               catalog_defaults=(("catalog", "recsim"), ("num_items", 20_000),
                                 ("num_users", 10_000)),
               ecosystem_defaults=tuple(RECSIM_ECOSYSTEM.items())),
    )
}

CATALOG_DEFAULTS: dict[str, Any] = {
    "catalog": "synthetic", "num_items": 500, "num_topics": 20, "num_providers": None,
    "num_users": 1000, "catalog_seed": 0, "data_dir": None, "holdout": 0.2,
    "holdout_seed": 0,
}
"""The catalog parameters and their defaults (see the module docstring); a preset may
change a default (``Preset.catalog_defaults``). ``num_providers=None``: the catalog's own
default."""
CATALOG_PARAMS: tuple[str, ...] = tuple(CATALOG_DEFAULTS)
"""The names of the catalog parameters, the keys :func:`make_env` takes besides the
:class:`envs.ecosystem.EcosystemConfig` fields."""

_DEFAULT_PROVIDERS = {"synthetic": 10, "movielens-100k": 20}


class CatalogParamError(ValueError):
    """A catalog parameter has a wrong type or value. ``param``, ``value`` and
    ``allowed`` (what the value must be) are what the message names."""

    def __init__(self, param: str, value: Any, allowed: str) -> None:
        self.param, self.value, self.allowed = param, value, allowed
        super().__init__(f"{param}={value!r} {allowed}")


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_catalog_params(params: Mapping[str, Any], check_data: bool = True) -> None:
    """Raises :class:`CatalogParamError` unless every catalog parameter in ``params`` has a
    value its catalog accepts: the right type and range, the catalog's own constraints
    (synthetic: ``num_items``, ``num_topics`` >= 2; MovieLens: ``num_providers`` >= 2) and,
    with ``check_data``, for ``catalog="movielens-100k"`` that the data was fetched into
    ``data_dir``. Keys that are not catalog parameters are ignored; missing ones are not
    checked (:func:`catalog_params` fills in the defaults)."""
    catalog = params.get("catalog", CATALOG_DEFAULTS["catalog"])
    if not isinstance(catalog, str) or catalog not in CATALOGS:
        raise CatalogParamError("catalog", catalog, f"is not one of {list(CATALOGS)}")
    for name, low, what in (("num_items", 2, " (items of the synthetic or recsim catalog)"),
                            ("num_topics", 2, " (topics of the synthetic catalog)"),
                            ("num_users", 1, " (synthetic or recsim users)"),
                            ("catalog_seed", 0, ""), ("holdout_seed", 0, "")):
        value = params.get(name, CATALOG_DEFAULTS[name])
        if not _is_integer(value) or value < low:
            raise CatalogParamError(name, value, f"must be an integer >= {low}{what}")
    providers = params.get("num_providers")
    low = 2 if catalog == "movielens-100k" else 1
    if providers is not None and (not _is_integer(providers) or providers < low):
        why = (" for catalog 'movielens-100k' (its largest genre/era buckets plus one for "
               "the independent studios)" if low == 2 else "")
        defaults = ", ".join(f"{n} {c}" for c, n in _DEFAULT_PROVIDERS.items())
        raise CatalogParamError("num_providers", providers, f"must be an integer >= {low}{why} "
                                f"or null (the catalog's default: {defaults})")
    holdout = params.get("holdout", CATALOG_DEFAULTS["holdout"])
    if not isinstance(holdout, numbers.Real) or isinstance(holdout, bool) \
            or not 0.0 <= holdout < 1.0:
        raise CatalogParamError("holdout", holdout, "must be a number in [0, 1): the share of "
                                "each MovieLens user's ratings held out of the simulator "
                                "(0: none, no offline ranking)")
    data_dir = params.get("data_dir")
    if data_dir is not None and (not isinstance(data_dir, str | os.PathLike)
                                 or not str(data_dir)):
        raise CatalogParamError("data_dir", data_dir, "must be a folder path, or null for "
                                "$MARLREC_DATA_DIR or ~/.cache/marlrec/data")
    if catalog == "movielens-100k" and check_data:
        try:
            movielens_layout(movielens_dir(data_dir))
        except DataFileError as e:
            raise CatalogParamError("data_dir", data_dir, "must be the folder that "
                                    f"MovieLens-100k was fetched into (null: the default "
                                    f"folder): {e}") from None


def catalog_params(preset: str, overrides: Mapping[str, Any],
                   check_data: bool = True) -> dict[str, Any]:
    """Every catalog parameter of preset ``preset``: its defaults updated by the catalog
    keys of ``overrides`` (other keys are ignored), checked by
    :func:`check_catalog_params`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; allowed: {sorted(PRESETS)}")
    params = {**CATALOG_DEFAULTS, **dict(PRESETS[preset].catalog_defaults)}
    params.update((k, v) for k, v in overrides.items() if k in params)
    check_catalog_params(params, check_data)
    return params


_CATALOG_CACHE: dict[tuple, tuple[Catalog, Any]] = {}


def _catalog_and_users(params: dict[str, Any]) -> tuple[Catalog, Any]:
    if params["catalog"] in ("synthetic", "recsim"):
        key: tuple = (params["catalog"], params["num_items"], params["num_topics"],
                      params["num_providers"], params["num_users"], params["catalog_seed"])
    else:  # keyed by the folder actually read, so a changed $MARLREC_DATA_DIR is seen
        key = ("movielens-100k", str(movielens_dir(params["data_dir"]).resolve()),
               params["num_providers"], float(params["holdout"]), int(params["holdout_seed"]))
    if key in _CATALOG_CACHE:
        return _CATALOG_CACHE[key]
    if params["catalog"] == "synthetic":
        catalog = synthetic_catalog(params["num_items"], params["num_topics"],
                                    params["num_providers"] or 10, params["catalog_seed"])
        users: Any = SyntheticUsers(params["num_users"], params["catalog_seed"])
    elif params["catalog"] == "recsim":
        catalog = recsim_catalog(params["num_items"], params["catalog_seed"])
        users = RecSimUsers(params["num_users"], params["catalog_seed"])
    else:
        data = load_movielens_100k(movielens_dir(params["data_dir"]))
        holdout, seed = float(params["holdout"]), int(params["holdout_seed"])
        split = RatingSplit(data, heldout_split(data, holdout, seed), holdout, seed)
        catalog = movielens_catalog(data, params["num_providers"] or 20, rating_mask=split)
        users = MovieLensUsers(data, rating_mask=split.train)  # interests, prior histories
    _CATALOG_CACHE[key] = (catalog, users)
    return catalog, users


def make_env(name: str, encoder: TextEncoder | None = None, render_mode: str | None = None,
             **overrides: Any) -> RecEcosystemEnv:
    """Builds the preset ``name`` with ``overrides`` (see the module docstring).

    ``encoder`` embeds item and user-state texts; the default is the lexical
    :class:`envs.encoding.HashingTextEncoder` (``marlrec`` passes all-MiniLM-L6-v2).
    """
    # the data's presence is not checked here: loading it names the missing file
    params = catalog_params(name, overrides, check_data=False)
    preset = PRESETS[name]
    env_overrides = {k: v for k, v in overrides.items() if k not in params}
    allowed = sorted({f.name for f in fields(EcosystemConfig)} | set(CATALOG_PARAMS))
    unknown = sorted(set(env_overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for preset {name!r}; allowed: "
                         f"{allowed}")
    config = (EcosystemConfig().with_overrides(**dict(preset.ecosystem_defaults))
              .with_overrides(**env_overrides))
    catalog, users = _catalog_and_users(params)
    return RecEcosystemEnv(catalog, users, config, encoder=encoder,
                           learned_roles=preset.learned_roles, preset=name,
                           render_mode=render_mode)


def scripted_behaviours(env: RecEcosystemEnv, slate_policy: str = "greedy_by_appeal",
                        provider: str = "static") -> dict[str, Any]:
    """Default scripted behaviours for every role of ``env``: the calibrated choice model
    for users, ``slate_policy`` (a name from ``envs.behaviours.SLATE_BASELINES``) and a
    provider behaviour (``"static"`` or ``"follow_the_trend"``)."""
    if slate_policy not in SLATE_BASELINES:
        raise ValueError(f"slate_policy={slate_policy!r}; allowed: {sorted(SLATE_BASELINES)}")
    providers = {"static": StaticProvider, "follow_the_trend":
                 lambda: FollowTheTrend(env.catalog.num_topics)}
    if provider not in providers:
        raise ValueError(f"provider={provider!r}; allowed: {sorted(providers)}")
    return {
        "slate_policy": SLATE_BASELINES[slate_policy](env.config.slate_size),
        "user": ChoiceModelUser(env.config.user_model),
        "provider": providers[provider](),
    }




ROLE_BEHAVIOURS: dict[str, tuple[str, ...]] = {
    "slate_policy": tuple(SLATE_BASELINES),
    "user": ("choice_model",),
    "provider": ("static", "follow_the_trend"),
}
"""The scripted behaviours each role offers, by name (:func:`role_behaviour`)."""


def role_behaviour(env: RecEcosystemEnv, role: str, name: str) -> Any:
    """The scripted behaviour ``name`` of ``role`` for ``env``."""
    if role not in ROLE_BEHAVIOURS:
        raise ValueError(f"role={role!r} is not one of {list(ROLE_BEHAVIOURS)}")
    if name not in ROLE_BEHAVIOURS[role]:
        raise ValueError(f"{role} behaviour {name!r} is not one of {list(ROLE_BEHAVIOURS[role])}")
    by_role = {"slate_policy": {"slate_policy": name}, "provider": {"provider": name}}
    return scripted_behaviours(env, **by_role.get(role, {}))[role]

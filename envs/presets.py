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
| ``num_items`` | 500 | synthetic (or recsim) catalog size |
| ``num_topics`` | 20 | synthetic topics |
| ``num_providers`` | 10 (synthetic), 20 (MovieLens) | providers / studios |
| ``num_users`` | 1000 | synthetic (or recsim) user population |
| ``catalog_seed`` | 0 | seed of the synthetic catalog and users |
| ``data_dir`` | ``envs.movielens.default_data_dir()`` | where MovieLens-100k was fetched |

The env's own randomness is seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from envs.behaviours import SLATE_BASELINES, ChoiceModelUser, FollowTheTrend, StaticProvider
from envs.catalog import Catalog, movielens_catalog, synthetic_catalog
from envs.ecosystem import ROLES, EcosystemConfig, RecEcosystemEnv
from envs.encoding import TextEncoder
from envs.movielens import load_movielens_100k, movielens_dir
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

_CATALOG_DEFAULTS: dict[str, Any] = {
    "catalog": "synthetic", "num_items": 500, "num_topics": 20, "num_providers": None,
    "num_users": 1000, "catalog_seed": 0, "data_dir": None,
}
_CATALOG_CACHE: dict[tuple, tuple[Catalog, Any]] = {}


def _catalog_and_users(params: dict[str, Any]) -> tuple[Catalog, Any]:
    if params["catalog"] in ("synthetic", "recsim"):
        key: tuple = (params["catalog"], params["num_items"], params["num_topics"],
                      params["num_providers"], params["num_users"], params["catalog_seed"])
    else:  # keyed by the folder actually read, so a changed $MARLREC_DATA_DIR is seen
        key = ("movielens-100k", str(movielens_dir(params["data_dir"]).resolve()),
               params["num_providers"])
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
        catalog = movielens_catalog(data, params["num_providers"] or 20)
        users = MovieLensUsers(data)
    _CATALOG_CACHE[key] = (catalog, users)
    return catalog, users


def make_env(name: str, encoder: TextEncoder | None = None, render_mode: str | None = None,
             **overrides: Any) -> RecEcosystemEnv:
    """Builds the preset ``name`` with ``overrides`` (see the module docstring).

    ``encoder`` embeds item and user-state texts; the default is the lexical
    :class:`envs.encoding.HashingTextEncoder` (``marlrec`` passes all-MiniLM-L6-v2).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {sorted(PRESETS)}")
    preset = PRESETS[name]
    catalog_params = {**_CATALOG_DEFAULTS, **dict(preset.catalog_defaults)}
    env_overrides = {}
    for key, value in overrides.items():
        if key in catalog_params:
            catalog_params[key] = value
        else:
            env_overrides[key] = value
    if catalog_params["catalog"] not in CATALOGS:
        raise ValueError(f"catalog={catalog_params['catalog']!r} is not one of {CATALOGS}")
    allowed = sorted({f.name for f in fields(EcosystemConfig)} | set(_CATALOG_DEFAULTS))
    unknown = sorted(set(env_overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for preset {name!r}; allowed: "
                         f"{allowed}")
    config = (EcosystemConfig().with_overrides(**dict(preset.ecosystem_defaults))
              .with_overrides(**env_overrides))
    catalog, users = _catalog_and_users(catalog_params)
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

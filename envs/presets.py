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

The catalogs themselves, which parameters each reads, its provider defaults, its data and
its capabilities (real ratings, demographics, text profiles) are declared in one registry,
:data:`envs.catalogs.CATALOGS`. :func:`check_catalog_params` (there) checks every catalog
parameter's type and range and the catalog's own constraints (for MovieLens, that the data
was fetched); experiment specs (:mod:`marlrec.config.spec`) run it before anything starts.
The scripted behaviours of every role are declared in :data:`envs.behaviours.BEHAVIOURS`.

The env's own randomness is seeded by ``reset(seed=...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from envs.behaviours import (  # noqa: F401  (re-exported: they were defined here)
    ROLE_BEHAVIOURS,
    role_behaviour,
    scripted_behaviours,
)
from envs.catalogs import (  # noqa: F401  (re-exported: the catalog parameters' API)
    CATALOG_DEFAULTS,
    CATALOG_PARAMS,
    CATALOGS,
    CatalogParamError,
    catalog_and_users,
    check_catalog_params,
)
from envs.ecosystem import ROLES, EcosystemConfig, RecEcosystemEnv
from envs.encoding import TextEncoder
from envs.recsim import ECOSYSTEM_DEFAULTS as RECSIM_ECOSYSTEM


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


def make_env(name: str, encoder: TextEncoder | None = None, render_mode: str | None = None,
             state_encoder: TextEncoder | None = None, **overrides: Any) -> RecEcosystemEnv:
    """Builds the preset ``name`` with ``overrides`` (see the module docstring).

    ``encoder`` embeds the item texts (and with them the simulated users' tastes) and, unless
    ``state_encoder`` is given, the user texts the platform observes (profiles, state texts,
    intents); the default is the lexical :class:`envs.encoding.HashingTextEncoder`
    (``marlrec`` passes all-MiniLM-L6-v2 or its static distillation).
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
    catalog, users = catalog_and_users(params)
    return RecEcosystemEnv(catalog, users, config, encoder=encoder,
                           learned_roles=preset.learned_roles, preset=name,
                           render_mode=render_mode, state_encoder=state_encoder)

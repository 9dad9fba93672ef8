"""The catalogs an env can be built from: one registry, :data:`CATALOGS`.

Each :class:`CatalogSource` declares everything the rest of the code asks about a catalog:
the catalog parameters it reads, its default and minimum number of providers, its own
checks, how to build the catalog and its users, its cache key, whether it needs fetched
data (and the data-set name ``marlrec data fetch`` takes) and its **capabilities**:

| catalog | providers (default, min) | fetched data | ratings | demographics | profiles |
|---|---|---|---|---|---|
| ``synthetic`` | 10, >= 1 | no | no | no | yes (generated personas) |
| ``movielens-100k`` | 20, >= 2 | ``marlrec data fetch movielens-100k`` | yes | yes | yes |
| ``recsim`` | one, fixed | no | no | no | no (ids only) |

- ``ratings``: real held-out ratings (``Catalog.ratings``, a
  :class:`envs.movielens.RatingSplit`): offline ranking and the collaborative-filtering
  baseline can run on it.
- ``demographics``: the users' age, gender and occupation.
- ``profiles``: the users have informative text profiles (what the text user state
  encodes); RecSim's users are named by number only.

Code that needs a capability asks the registry (``CATALOGS[name].ratings``), never the
catalog's name. **Adding a catalog** is one :class:`CatalogSource` definition (with its
``build`` function) and one line in :data:`CATALOGS`; a new catalog parameter also goes
into :data:`CATALOG_DEFAULTS` with its check in :func:`check_catalog_params`.

The catalog parameters (the keys :func:`envs.make_env` takes besides the
:class:`envs.ecosystem.EcosystemConfig` fields) are listed in :mod:`envs.presets`.
:func:`check_catalog_params` checks every one's type and range whatever the catalog (a
spec is checked whole), then the chosen catalog's own constraints and, optionally, its data.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from envs.catalog import Catalog, movielens_catalog, synthetic_catalog
from envs.movielens import (
    DATASET,
    DataFileError,
    RatingSplit,
    heldout_split,
    load_movielens_100k,
    movielens_dir,
    movielens_layout,
)
from envs.recsim import RecSimUsers, recsim_catalog
from envs.users import MovieLensUsers, SyntheticUsers

CATALOG_DEFAULTS: dict[str, Any] = {
    "catalog": "synthetic", "num_items": 500, "num_topics": 20, "num_providers": None,
    "num_users": 1000, "catalog_seed": 0, "data_dir": None, "holdout": 0.2,
    "holdout_seed": 0,
}
"""The catalog parameters and their defaults (see :mod:`envs.presets`); a preset may change
a default (``Preset.catalog_defaults``). ``num_providers=None``: the catalog's own
default."""
CATALOG_PARAMS: tuple[str, ...] = tuple(CATALOG_DEFAULTS)
"""The names of the catalog parameters, the keys :func:`envs.make_env` takes besides the
:class:`envs.ecosystem.EcosystemConfig` fields."""


class CatalogParamError(ValueError):
    """A catalog parameter has a wrong type or value. ``param``, ``value`` and
    ``allowed`` (what the value must be) are what the message names."""

    def __init__(self, param: str, value: Any, allowed: str) -> None:
        self.param, self.value, self.allowed = param, value, allowed
        super().__init__(f"{param}={value!r} {allowed}")


Params = Mapping[str, Any]
"""Catalog parameters, every key of :data:`CATALOG_DEFAULTS` filled in (``num_providers``
resolved to the catalog's default when ``build`` and ``cache_key`` see it)."""


@dataclass(frozen=True)
class CatalogSource:
    """One catalog in :data:`CATALOGS`: where its items and users come from and what it
    offers."""

    name: str
    """The value of the ``catalog`` parameter that selects it."""
    description: str
    parameters: tuple[str, ...]
    """The catalog parameters it reads (keys of :data:`CATALOG_DEFAULTS`)."""
    build: Callable[[Params], tuple[Catalog, Any]]
    """Builds ``(catalog, users)`` from the parameters; ``users`` has
    ``build(catalog, item_vectors) -> UserPopulation``."""
    default_providers: int | None
    """``num_providers`` when it is null; ``None``: the catalog fixes its own providers and
    does not read ``num_providers``."""
    min_providers: int = 1
    """The smallest ``num_providers`` it accepts."""
    providers_why: str = ""
    """Why ``min_providers`` (said when a value is refused)."""
    check: Callable[[Params], None] | None = None
    """Its own further parameter checks (after the shared type and range checks); raises
    :class:`CatalogParamError`."""
    cache_key: Callable[[Params], tuple] | None = None
    """What identifies a built catalog and its users; ``None``: the values of
    ``parameters``."""
    dataset: str | None = None
    """The data set it reads, by the name ``marlrec data fetch`` takes; ``None``: it needs no
    fetched data."""
    check_data: Callable[[Params], None] | None = None
    """Checks that the data was fetched where the parameters say; raises
    :class:`CatalogParamError` naming the parameter to fix."""
    ratings: bool = False
    """Real held-out ratings (``Catalog.ratings``): offline ranking and the
    collaborative-filtering baseline can use it."""
    demographics: bool = False
    """Users with age, gender and occupation."""
    profiles: bool = False
    """Users with informative text profiles."""

    @property
    def needs_data(self) -> bool:
        """Whether it reads a fetched data set."""
        return self.dataset is not None

    @property
    def capabilities(self) -> frozenset[str]:
        """The names of the capabilities it has (``ratings``, ``demographics``,
        ``profiles``)."""
        return frozenset(c for c in CAPABILITIES if getattr(self, c))

    def resolved(self, params: Params) -> dict[str, Any]:
        """``params`` with ``num_providers`` resolved to this catalog's default."""
        out = {**CATALOG_DEFAULTS, **params}
        if out["num_providers"] is None:
            out["num_providers"] = self.default_providers
        return out

    def key(self, params: Params) -> tuple:
        """The cache key of the catalog and users that ``params`` build."""
        params = self.resolved(params)
        if self.cache_key is not None:
            return (self.name, *self.cache_key(params))
        return (self.name, *(params[p] for p in self.parameters))


CAPABILITIES = ("ratings", "demographics", "profiles")
"""The capabilities a :class:`CatalogSource` declares."""


# ---- synthetic ----------------------------------------------------------------------------

def _synthetic(params: Params) -> tuple[Catalog, Any]:
    catalog = synthetic_catalog(params["num_items"], params["num_topics"],
                                params["num_providers"], params["catalog_seed"])
    return catalog, SyntheticUsers(params["num_users"], params["catalog_seed"])


SYNTHETIC = CatalogSource(
    name="synthetic",
    description="topic-based items with generated text, of any size; persona users who "
                "like two topics",
    parameters=("num_items", "num_topics", "num_providers", "num_users", "catalog_seed"),
    build=_synthetic, default_providers=10, profiles=True)


# ---- MovieLens-100k -----------------------------------------------------------------------

def _movielens(params: Params) -> tuple[Catalog, Any]:
    """The simulator from the training ratings only: ``holdout`` of each user's ratings
    (:func:`envs.movielens.heldout_split`, seeded by ``holdout_seed``) are held out and
    recorded in ``Catalog.ratings``."""
    data = load_movielens_100k(movielens_dir(params["data_dir"]))
    holdout, seed = float(params["holdout"]), int(params["holdout_seed"])
    split = RatingSplit(data, heldout_split(data, holdout, seed), holdout, seed)
    catalog = movielens_catalog(data, params["num_providers"], rating_mask=split)
    return catalog, MovieLensUsers(data, rating_mask=split.train)  # interests, prior histories


def _movielens_key(params: Params) -> tuple:
    # keyed by the folder actually read, so a changed $MARLREC_DATA_DIR is seen
    return (str(movielens_dir(params["data_dir"]).resolve()), params["num_providers"],
            float(params["holdout"]), int(params["holdout_seed"]))


def _movielens_data(params: Params) -> None:
    data_dir = params.get("data_dir")
    try:
        movielens_layout(movielens_dir(data_dir))
    except DataFileError as e:
        raise CatalogParamError("data_dir", data_dir, "must be the folder that MovieLens-100k "
                                f"was fetched into (null: the default folder): {e}") from None


MOVIELENS_100K = CatalogSource(
    name=DATASET,
    description="MovieLens-100k: 1,682 real movies (titles, years, genres), 943 users with "
                "demographics; quality, appeal and interests from the training ratings",
    parameters=("num_providers", "data_dir", "holdout", "holdout_seed"),
    build=_movielens, default_providers=20, min_providers=2,
    providers_why=" (its largest genre/era buckets plus one for the independent studios)",
    cache_key=_movielens_key, dataset=DATASET, check_data=_movielens_data,
    ratings=True, demographics=True, profiles=True)


# ---- RecSim -------------------------------------------------------------------------------

def _recsim(params: Params) -> tuple[Catalog, Any]:
    return (recsim_catalog(params["num_items"], params["catalog_seed"]),
            RecSimUsers(params["num_users"], params["catalog_seed"]))


RECSIM = CatalogSource(
    name="recsim",
    description="RecSim's interest_evolution documents (one-hot topic features, one "
                "provider) and users (uniform interests), see envs.recsim",
    parameters=("num_items", "num_users", "catalog_seed"),
    build=_recsim, default_providers=None)


CATALOGS: dict[str, CatalogSource] = {c.name: c for c in (SYNTHETIC, MOVIELENS_100K, RECSIM)}
"""Every catalog by name: the allowed values of the ``catalog`` parameter."""


# ---- checks and building ------------------------------------------------------------------

def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _readers(param: str) -> str:
    """The catalogs that read ``param``, as "a or b"."""
    return " or ".join(c.name for c in CATALOGS.values() if param in c.parameters)


def check_catalog_params(params: Params, check_data: bool = True) -> None:
    """Raises :class:`CatalogParamError` unless every catalog parameter in ``params`` has a
    value its catalog accepts: the right type and range (every parameter, whichever catalog
    reads it), the chosen catalog's own constraints (``min_providers``, ``check``) and, with
    ``check_data``, that the catalog's data was fetched (``check_data``). Keys that are not
    catalog parameters are ignored; missing ones are not checked
    (:func:`envs.catalog_params` fills in the defaults)."""
    name = params.get("catalog", CATALOG_DEFAULTS["catalog"])
    if not isinstance(name, str) or name not in CATALOGS:
        raise CatalogParamError("catalog", name, f"is not one of {list(CATALOGS)}")
    source = CATALOGS[name]
    for param, low, what in (("num_items", 2, "items of the {} catalog"),
                             ("num_topics", 2, "topics of the {} catalog"),
                             ("num_users", 1, "{} users"),
                             ("catalog_seed", 0, ""), ("holdout_seed", 0, "")):
        value = params.get(param, CATALOG_DEFAULTS[param])
        if not _is_integer(value) or value < low:
            why = f" ({what.format(_readers(param))})" if what else ""
            raise CatalogParamError(param, value, f"must be an integer >= {low}{why}")
    providers, low = params.get("num_providers"), source.min_providers
    if providers is not None and (not _is_integer(providers) or providers < low):
        why = f" for catalog {name!r}{source.providers_why}" if source.providers_why else ""
        defaults = ", ".join(f"{c.default_providers} {c.name}" for c in CATALOGS.values()
                             if c.default_providers is not None)
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
    if source.check is not None:
        source.check(params)
    if check_data and source.check_data is not None:
        source.check_data(params)


_CATALOG_CACHE: dict[tuple, tuple[Catalog, Any]] = {}


def catalog_and_users(params: Params) -> tuple[Catalog, Any]:
    """The catalog and users that (checked) ``params`` select, built once per cache key."""
    source = CATALOGS[params["catalog"]]
    key = source.key(params)
    if key not in _CATALOG_CACHE:
        _CATALOG_CACHE[key] = source.build(source.resolved(params))
    return _CATALOG_CACHE[key]

"""The catalog registry (envs.catalogs.CATALOGS): capabilities, checks, building, caching."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import envs
from envs import catalogs
from envs.catalog import synthetic_catalog
from envs.catalogs import CATALOGS, CatalogParamError, CatalogSource, check_catalog_params
from envs.users import SyntheticUsers

ENVS_DIR = Path(envs.__file__).parent
SMALL = {"num_sessions": 2, "num_candidates": 6, "slate_size": 2, "horizon": 10}


def test_the_registry_keeps_the_catalog_names_and_their_order():
    assert list(CATALOGS) == ["synthetic", "movielens-100k", "recsim"]
    assert envs.CATALOGS is CATALOGS and "recsim" in envs.CATALOGS
    for name, source in CATALOGS.items():
        assert isinstance(source, CatalogSource) and source.name == name and source.description
        assert set(source.parameters) <= set(envs.CATALOG_PARAMS) - {"catalog"}
        assert source.needs_data == (source.dataset is not None) \
            == (source.check_data is not None)
        assert source.min_providers >= 1
        assert (source.default_providers is None) == ("num_providers" not in source.parameters)


def test_capabilities():
    assert {n: c.capabilities for n, c in CATALOGS.items()} == {
        "synthetic": frozenset({"profiles"}),
        "movielens-100k": frozenset({"ratings", "demographics", "profiles"}),
        "recsim": frozenset(),
    }
    assert [n for n, c in CATALOGS.items() if c.ratings] == ["movielens-100k"]
    assert [n for n, c in CATALOGS.items() if c.needs_data] == ["movielens-100k"]
    assert CATALOGS["movielens-100k"].dataset == "movielens-100k"
    assert (CATALOGS["movielens-100k"].default_providers,
            CATALOGS["movielens-100k"].min_providers) == (20, 2)
    assert (CATALOGS["synthetic"].default_providers, CATALOGS["synthetic"].min_providers) \
        == (10, 1)


def _profiles_say_more_than_an_id(env) -> bool:
    return len({re.sub(r"\d+", "#", p) for p in env.population.profiles}) > 1


@pytest.mark.parametrize(("preset", "catalog", "overrides"), [
    ("interest_evolution", "synthetic", SMALL),
    ("recsim_interest_evolution", "recsim", {**SMALL, "num_sessions": 1, "num_items": 300,
                                             "num_users": 50}),
])
def test_capabilities_match_what_the_built_env_has(preset, catalog, overrides):
    env = envs.make_env(preset, **overrides)
    source = CATALOGS[catalog]
    assert (env.catalog.ratings is not None) == source.ratings
    assert _profiles_say_more_than_an_id(env) == source.profiles
    assert env.catalog.num_providers == (source.default_providers or 1)


def test_movielens_capabilities_match_the_built_env(movielens_data):
    env = envs.make_env("interest_evolution", catalog="movielens-100k", **SMALL)
    source = CATALOGS["movielens-100k"]
    assert env.catalog.ratings is not None and source.ratings
    assert _profiles_say_more_than_an_id(env) and source.profiles
    assert "works as" in env.population.profiles[0]  # demographics
    assert len(movielens_data.user_age) == len(movielens_data.user_occupation) \
        == env.population.num_users
    assert env.catalog.num_providers == source.default_providers


def test_an_unknown_catalog_names_the_parameter_the_value_and_the_catalogs():
    message = "catalog='imdb' is not one of ['synthetic', 'movielens-100k', 'recsim']"
    with pytest.raises(CatalogParamError) as err:
        check_catalog_params({"catalog": "imdb"})
    assert (err.value.param, err.value.value, str(err.value)) == ("catalog", "imdb", message)
    with pytest.raises(CatalogParamError, match=re.escape(message)):
        envs.make_env("interest_evolution", catalog="imdb")


@pytest.mark.parametrize(("params", "message"), [
    ({"num_items": 1}, "num_items=1 must be an integer >= 2 (items of the synthetic or "
                       "recsim catalog)"),
    ({"num_topics": 1}, "num_topics=1 must be an integer >= 2 (topics of the synthetic "
                        "catalog)"),
    ({"num_users": 0}, "num_users=0 must be an integer >= 1 (synthetic or recsim users)"),
    ({"num_providers": 0}, "num_providers=0 must be an integer >= 1 or null (the catalog's "
                           "default: 10 synthetic, 20 movielens-100k)"),
    ({"catalog": "movielens-100k", "num_providers": 1},
     "num_providers=1 must be an integer >= 2 for catalog 'movielens-100k' (its largest "
     "genre/era buckets plus one for the independent studios) or null (the catalog's default: "
     "10 synthetic, 20 movielens-100k)"),
])
def test_parameter_errors_read_the_registry(params, message):
    with pytest.raises(CatalogParamError) as err:
        check_catalog_params(params, check_data=False)
    assert str(err.value) == message


def test_the_data_check_is_the_catalogs_own(tmp_path):
    params = {"catalog": "movielens-100k", "data_dir": str(tmp_path / "empty")}
    with pytest.raises(CatalogParamError) as err:
        check_catalog_params(params)
    assert err.value.param == "data_dir"
    assert "must be the folder that MovieLens-100k was fetched into" in str(err.value)
    assert "marlrec data fetch movielens-100k" in str(err.value)
    check_catalog_params(params, check_data=False)
    check_catalog_params({"catalog": "synthetic", "data_dir": str(tmp_path / "empty")})


def test_a_catalog_is_built_once_per_cache_key():
    env = envs.make_env("interest_evolution", **SMALL, num_items=120, catalog_seed=5)
    again = envs.make_env("interest_evolution", **SMALL, num_items=120, catalog_seed=5,
                          num_providers=10)  # the default, spelled out
    other = envs.make_env("interest_evolution", **SMALL, num_items=120, catalog_seed=6)
    assert env.catalog is again.catalog and env.catalog is not other.catalog
    assert env.catalog.num_providers == CATALOGS["synthetic"].default_providers
    assert CATALOGS["synthetic"].key({"catalog": "synthetic"}) == (
        "synthetic", 500, 20, 10, 1000, 0)


def test_a_new_catalog_is_one_definition_and_one_registry_line(monkeypatch):
    checked = []

    def build(params):
        return (synthetic_catalog(params["num_items"], 4, params["num_providers"], 1),
                SyntheticUsers(30, 1))

    def check(params):
        checked.append(params.get("num_items"))
        if params.get("num_items", 500) > 400:
            raise CatalogParamError("num_items", params["num_items"], "must be <= 400 for "
                                    "catalog 'tiny'")

    tiny = CatalogSource(name="tiny", description="a test catalog", parameters=(
        "num_items", "num_providers"), build=build, default_providers=3, min_providers=2,
        providers_why=" (a test)", check=check, profiles=True)
    monkeypatch.setitem(CATALOGS, "tiny", tiny)
    monkeypatch.setattr(catalogs, "_CATALOG_CACHE", {})
    env = envs.make_env("interest_evolution", catalog="tiny", num_items=80, **SMALL)
    assert env.catalog.num_items == 80 and env.catalog.num_providers == 3
    assert env.population.num_users == 30 and checked == [80]
    result = envs.rollout(env, envs.scripted_behaviours(env), episodes=1, seed=0)
    assert np.isfinite(result.mean_metrics()["engagement_total"])
    with pytest.raises(CatalogParamError, match="num_items=500 must be <= 400"):
        envs.make_env("interest_evolution", catalog="tiny")
    with pytest.raises(CatalogParamError, match="num_providers=1 must be an integer >= 2 for "
                                                r"catalog 'tiny' \(a test\)"):
        envs.make_env("interest_evolution", catalog="tiny", num_items=80, num_providers=1)
    with pytest.raises(CatalogParamError, match=r"is not one of \['synthetic', "
                                                r"'movielens-100k', 'recsim', 'tiny'\]"):
        check_catalog_params({"catalog": "imdb"})


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """The string constants of a module's code: docstrings (and the attribute docstrings
    that follow assignments: any string statement) left out, f-string parts kept."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_only_the_movielens_definition_spells_its_name():
    name = re.compile(r"movielens-100k(?![\w-])")  # not "movielens-100k-users" etc.
    found = [(path.name, line) for path in sorted(ENVS_DIR.glob("*.py"))
             for line, text in _code_strings(path) if name.search(text)]
    assert found == [("movielens.py", found[0][1])], found
    from envs.movielens import DATASET

    assert DATASET == "movielens-100k" and CATALOGS[DATASET].dataset == DATASET

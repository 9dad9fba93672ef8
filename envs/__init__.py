"""The recommender ecosystem as a PettingZoo ParallelEnv: pure numpy, no Ray.

Quick start::

    import envs
    env = envs.make_env("interest_evolution", num_sessions=4)
    result = envs.rollout(env, envs.scripted_behaviours(env), episodes=2, seed=0)
    print(result.mean_metrics())
"""

from envs.behaviours import (
    BEHAVIOURS,
    DEFAULT_BEHAVIOURS,
    ROLE_BEHAVIOURS,
    SLATE_BASELINES,
    BehaviourInfo,
    ChoiceModelUser,
    FollowTheTrend,
    GreedyByAppeal,
    GreedyByQuality,
    GreedyBySimilarity,
    MostDiverse,
    PopularitySlate,
    RandomAction,
    RandomSlate,
    StaticProvider,
    role_behaviour,
    scripted_behaviours,
)
from envs.catalog import Catalog, movielens_catalog, synthetic_catalog
from envs.catalogs import (
    CAPABILITIES,
    CATALOG_DEFAULTS,
    CATALOG_PARAMS,
    CATALOGS,
    CatalogParamError,
    CatalogSource,
    check_catalog_params,
)
from envs.cold_start import ColdSplit, ColdStart
from envs.ecosystem import (
    ROLE_ACTION_KINDS,
    ROLES,
    USER_STATES,
    EcosystemConfig,
    RecEcosystemEnv,
    embed_catalog,
)
from envs.encoding import HashingTextEncoder, TextEncoder
from envs.movielens import DataFileError, MovieLens100k, RatingSplit, load_movielens_100k
from envs.objectives import OBJECTIVE_TERMS, SlateObjective
from envs.presets import PRESETS, catalog_params, make_env
from envs.providers import ProviderModel
from envs.rollout import RolloutResult, ScriptedRoles, rollout
from envs.rollout import seed_streams as rollout_seed_streams
from envs.users import MovieLensUsers, SyntheticUsers, UserModel, UserPopulation

__all__ = [
    "BEHAVIOURS", "BehaviourInfo", "CAPABILITIES", "CatalogSource", "DEFAULT_BEHAVIOURS",
    "MostDiverse",
    "CATALOGS", "CATALOG_DEFAULTS", "CATALOG_PARAMS", "Catalog", "CatalogParamError",
    "ChoiceModelUser", "ColdSplit", "ColdStart", "DataFileError",
    "EcosystemConfig", "FollowTheTrend", "GreedyByAppeal", "GreedyByQuality", "GreedyBySimilarity",
    "HashingTextEncoder", "MovieLens100k", "MovieLensUsers", "OBJECTIVE_TERMS", "PRESETS",
    "PopularitySlate", "SlateObjective",
    "ProviderModel", "ROLES", "ROLE_ACTION_KINDS", "ROLE_BEHAVIOURS", "RandomAction",
    "RandomSlate", "RatingSplit", "RecEcosystemEnv", "RolloutResult", "SLATE_BASELINES",
    "ScriptedRoles", "StaticProvider", "SyntheticUsers", "TextEncoder", "USER_STATES", "UserModel",
    "UserPopulation", "catalog_params", "check_catalog_params", "embed_catalog",
    "load_movielens_100k", "make_env", "movielens_catalog",
    "role_behaviour", "rollout", "rollout_seed_streams", "scripted_behaviours",
    "synthetic_catalog",
]

"""Baselines that exist only for evaluation: they need more than an env's observations and
scripted state (a model fitted on the catalog's ratings), so no role can be scripted with
them in training. Each declares its role, the catalog capability it needs
(``envs.CatalogSource``'s ``ratings``, ``demographics`` or ``profiles``) and whether it is
privileged; the spec validator offers it as ``evaluation.baselines`` when its role learns
and the catalog has the capability. The scripted behaviours (``envs.BEHAVIOURS``) are the
other baselines.

Adding one: a function ``(env, seed) -> behaviour`` and its :class:`EvaluationBaseline`
line below. Importing this module loads neither the baseline's code nor its libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import envs
from marlrec.algorithms.algorithm import import_path


@dataclass(frozen=True)
class EvaluationBaseline:
    name: str
    role: str
    requires: str  # the catalog capability it needs (envs.CAPABILITIES)
    privileged: bool  # reads what the role's observation does not carry (ids, ratings)
    description: str
    build: str  # "module:function" (env, seed) -> behaviour, imported when built

    def create(self, env: Any, seed: int) -> Any:
        """The baseline for ``env`` (fitted with ``seed``)."""
        return import_path(self.build)(env, seed)


EVALUATION_BASELINES: dict[str, EvaluationBaseline] = {b.name: b for b in (
    EvaluationBaseline(
        "collaborative_filtering", "slate_policy", "ratings", privileged=True,
        description="ALS matrix factorisation on the env's training ratings; knows the "
                    "user's and the candidates' ids",
        build="marlrec.evaluation.collaborative_filtering:cf_baseline_for_env"),
)}


def offered_baselines(learned_roles: list[str], catalog: str) -> list[str]:
    """The baseline names a spec may list: the scripted behaviours of the learned roles, and
    the evaluation baselines whose role learns and whose capability ``catalog`` offers."""
    offered = [b for r in envs.ROLES if r in learned_roles for b in envs.ROLE_BEHAVIOURS[r]]
    capabilities = envs.CATALOGS[catalog].capabilities
    offered += [b.name for b in EVALUATION_BASELINES.values()
                if b.role in learned_roles and b.requires in capabilities]
    return offered


def default_baselines(learned_roles: list[str]) -> list[str]:
    """``evaluation.baselines`` when the spec names none: random and greedy-by-appeal slates
    when the slate policy learns, else the scripted behaviours of the learned roles."""
    if "slate_policy" in learned_roles:
        return ["random", "greedy_by_appeal"]
    return [b for r in envs.ROLES if r in learned_roles for b in envs.ROLE_BEHAVIOURS[r]]

"""Why was this slate shown? Attributions of a learned slate policy's choices to its input
groups, a faithfulness check of them, and a readable explanation per recommendation.

Attribution. The candidate-scoring actor (:class:`marlrec.algorithms.actor_critic.
CandidateScoringActor`) scores each candidate from one input vector laid out in groups:
the item embedding, the user state, their product, each candidate feature (appeal,
popularity, observed satisfaction, similarity; quality and exposure fairness where the env
reveals them), the session, item attributes and the intent where present
(:meth:`~marlrec.algorithms.actor_critic.CandidateScoringActor.input_groups`). The top
recommendation of a decision is the candidate with the highest first-slot score; its score
is attributed to the groups by integrated gradients (Sundararajan et al., ICML 2017) from
the all-zero input, with :data:`IG_STEPS` midpoint steps: a group's attribution is the sum
over its columns of ``x * mean gradient along the path``, and the attributions add up to
``score(x) - score(0)`` (completeness; the error of the Riemann sum is reported).

Faithfulness. For each decision, the top-attributed group (largest attribution) of the top
recommendation is removed (set to its baseline, zero, in that candidate's input only) and
the candidate re-scored; the decision changes when another candidate now scores higher.
The same is done with a group drawn uniformly from the others. Attributions are faithful
when removing the top group changes the decision more often than removing a random one:
both rates are reported with Wilson 95% intervals over the decisions.

Readable explanations, from what the env knows at the decision: the user's recent titles
nearest to the item (cosine of the item vectors, the simulated world's own embedding) and
a phrase for the item's top-attributed group, e.g. "Heat: because you watched Ronin and
Casino; high audience satisfaction".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

IG_STEPS = 32
PHRASES = {
    "item embedding": "what the film itself is about",
    "user state": "your viewing history as a whole",
    "user x item": "close to your taste",
    "appeal": "broad appeal",
    "popularity": "popular with other viewers",
    "observed_satisfaction": "high audience satisfaction",
    "similarity": "close to what you watched recently",
    "quality": "its hidden quality (an oracle's feature)",
    "exposure_fairness": "its studio has had little exposure",
    "session": "where you are in this session",
    "attributes": "its genres, year or studio",
    "intent": "what you said you wanted",
}
"""What a group's dominance means to the user, for the readable explanation."""


def scoring_head(module: Any) -> tuple[Any, Any]:
    """``(pre, actor)``: the module's candidate-scoring actor and what runs before it
    (the id embeddings of ``user_state="id"``, else identity). ``TypeError`` for a module
    without one (an ``mlp`` slate actor, a Q-module)."""
    from marlrec.algorithms.actor_critic import CandidateScoringActor

    actor = getattr(module, "actor", None)
    if isinstance(actor, CandidateScoringActor):
        return (lambda own: own), actor
    if isinstance(actor, torch.nn.Sequential) and isinstance(actor[-1], CandidateScoringActor):
        return actor[:-1], actor[-1]
    raise TypeError(f"{type(module).__name__} has no candidate-scoring slate actor (its actor "
                    f"is {type(actor).__name__}): explanations need model.slate_actor: "
                    "candidate_scoring")


@dataclass
class Attribution:
    """Decisions ``(N,)``: the top recommendation's candidate position, its first-slot
    score, the attribution of that score to each group ``(N, G)``, and the completeness
    error ``|sum of attributions - (score(x) - score(0))|``."""

    groups: list[str]
    chosen: np.ndarray
    score: np.ndarray
    attributions: np.ndarray
    completeness_error: np.ndarray
    inputs: torch.Tensor = field(repr=False)  # (N, C, width): every candidate's input


def attribute(module: Any, own: torch.Tensor, feature_names: tuple[str, ...]) -> Attribution:
    """Integrated-gradients attributions of each decision's top recommendation
    (``own``: flat own observations ``(N, own_dim)``)."""
    pre, actor = scoring_head(module)
    slices = actor.input_groups(feature_names)
    with torch.no_grad():
        x = actor.scorer_inputs(pre(own)).float()  # (N, C, W)
        scores = actor.scorer(x)[..., 0]  # first slot
    chosen = scores.argmax(dim=1)
    rows = torch.arange(x.shape[0])
    target = x[rows, chosen].detach()  # (N, W)
    alphas = (torch.arange(IG_STEPS, dtype=torch.float32) + 0.5) / IG_STEPS
    path = (alphas[:, None, None] * target[None]).requires_grad_(True)  # (steps, N, W)
    out = actor.scorer(path)[..., 0].sum()
    (grads,) = torch.autograd.grad(out, path)
    contributions = (target * grads.mean(dim=0)).detach()  # (N, W)
    groups = list(slices)
    attributions = torch.stack([contributions[:, slices[g]].sum(dim=1) for g in groups], 1)
    with torch.no_grad():
        at_zero = actor.scorer(torch.zeros_like(target))[..., 0]
    error = (attributions.sum(dim=1) - (scores[rows, chosen] - at_zero)).abs()
    return Attribution(groups, chosen.numpy(), scores[rows, chosen].numpy(),
                       attributions.numpy(), error.numpy(), x)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float, float]:
    """The rate and its Wilson score 95% interval."""
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def faithfulness(module: Any, attribution: Attribution, feature_names: tuple[str, ...],
                 seed: int = 0) -> dict[str, Any]:
    """How often removing the top-attributed group of the top recommendation changes the
    decision, against removing a random other group (module docstring)."""
    _, actor = scoring_head(module)
    slices = actor.input_groups(feature_names)
    rng = np.random.default_rng(seed)
    x = attribution.inputs
    n, groups = x.shape[0], attribution.groups
    top = attribution.attributions.argmax(axis=1)
    random = np.array([rng.choice([g for g in range(len(groups)) if g != t]) for t in top])
    with torch.no_grad():
        scores = actor.scorer(x)[..., 0].clone()  # (N, C)
        rows = torch.arange(n)
        chosen = torch.from_numpy(attribution.chosen)
        others = scores.clone()
        others[rows, chosen] = -torch.inf
        best_other = others.max(dim=1).values

        def changed(removed: np.ndarray) -> np.ndarray:
            inputs = x[rows, chosen].clone()
            for g in np.unique(removed):
                where = torch.from_numpy(np.flatnonzero(removed == g))
                inputs[where, slices[groups[g]]] = 0.0
            return (actor.scorer(inputs)[..., 0] < best_other).numpy()

        by_top, by_random = changed(top), changed(random)
    return {"decisions": int(n), "top_group_changes": wilson(int(by_top.sum()), n),
            "random_group_changes": wilson(int(by_random.sum()), n),
            "top_groups": {groups[g]: int((top == g).sum()) for g in np.unique(top)},
            "completeness_error_max": float(attribution.completeness_error.max()),
            "score_range": [float(attribution.score.min()), float(attribution.score.max())]}


class RecordingBehaviour:
    """Wraps a learned slate behaviour: acts as it does and records, per decision, the
    flat observation and what the env knew (user, recent history, candidates)."""

    def __init__(self, behaviour: Any, records: list[dict[str, Any]]) -> None:
        self.behaviour = behaviour
        self.records = records  # shared by the recorders of one explanation

    def act_with_env(self, env: Any, rows: np.ndarray, obs: Any,
                     rng: np.random.Generator) -> np.ndarray:
        flat = self.behaviour.flat_observations(obs, env, rows)
        actions = self.behaviour.greedy_action(self.behaviour.module, torch.from_numpy(flat))
        for i, row in enumerate(rows):
            self.records.append({
                "behaviour": self.behaviour, "step": env.t, "slot": int(row),
                "user": int(env._user[row]), "history": env._history[row].copy(),
                "candidates": np.array(env.candidate_items[row]), "flat": flat[i],
                "slate": actions[i].copy()})
        return actions


def readable(env: Any, record: dict[str, Any], item: int, group: str) -> str:
    """``"<title>: because you watched A and B; <phrase of group>"``, the titles the user's
    recent ones nearest to ``item``."""
    titles = env.catalog.titles
    history = [int(h) for h in record["history"] if h >= 0]
    phrase = PHRASES.get(group, group)
    if not history:
        return f"{titles[item]}: new here, from your profile; {phrase}"
    vectors = env.item_vectors
    nearest = sorted(history, key=lambda h: -float(vectors[h] @ vectors[item]))[:2]
    watched = " and ".join(titles[h] for h in nearest)
    return f"{titles[item]}: because you watched {watched}; {phrase}"


def explain_policy(env: Any, behaviours: dict[str, Any], episodes: int, seed: int,
                   sessions: int = 3, steps: int = 4) -> dict[str, Any]:
    """Plays ``episodes`` episodes (seeded ``seed + e``) with ``behaviours`` (as
    :func:`marlrec.evaluation.protocol.learned_behaviours` gives them: the learned slate
    agents' :class:`~marlrec.evaluation.learned_behaviour.LearnedBehaviour`, the other
    roles scripted), attributes every slate decision, checks faithfulness and explains the
    first ``steps`` slates of the first ``sessions`` slots of the first episode."""
    import envs
    from envs.ecosystem import candidate_feature_names, resolve_repeats

    records: list[dict[str, Any]] = []
    recorders: dict[int, RecordingBehaviour] = {}
    playing = dict(behaviours)
    for agent in env.possible_agents:
        if env.role_of(agent) == "slate_policy":
            learned = behaviours.get(agent, behaviours.get("slate_policy"))
            if not hasattr(learned, "module"):
                raise TypeError(f"{agent} is not played by a learned module ({learned!r}): "
                                "there is nothing to explain")
            playing[agent] = recorders.setdefault(id(learned),
                                                  RecordingBehaviour(learned, records))
    first_episode = 0
    for e in range(episodes):
        envs.rollout(env, playing, episodes=1, seed=seed + e)
        if e == 0:
            first_episode = len(records)
    names = candidate_feature_names(env.config)
    parts = []  # (record indices, attribution, faithfulness) per learned module
    for recorder in recorders.values():
        rows = [i for i, r in enumerate(records) if r["behaviour"] is recorder.behaviour]
        own = torch.from_numpy(np.stack([records[i]["flat"] for i in rows]))
        attribution = attribute(recorder.behaviour.module, own, names)
        parts.append((rows, attribution,
                      faithfulness(recorder.behaviour.module, attribution, names, seed)))
    where = {i: (attribution, k) for rows, attribution, _ in parts
             for k, i in enumerate(rows)}
    explained = []
    examples = records[:first_episode]
    for slot in sorted({r["slot"] for r in examples})[:sessions]:
        chosen = [i for i, r in enumerate(examples) if r["slot"] == slot][:steps]
        for i in chosen:
            record = records[i]
            attribution, k = where[i]
            top_group = attribution.groups[int(attribution.attributions[k].argmax())]
            shown, _ = resolve_repeats(record["slate"][None], len(record["candidates"]))
            slate = [int(record["candidates"][p]) for p in shown[0]]
            explained.append({
                "slot": slot, "step": record["step"],
                "profile": env.population.profiles[record["user"]],
                "slate": [env.catalog.titles[item] for item in slate],
                "explanation": readable(env, record, slate[0], top_group),
                "attribution": {g: float(a) for g, a in zip(
                    attribution.groups, attribution.attributions[k], strict=True)}})
    return {"faithfulness": merge_faithfulness([f for _, _, f in parts]),
            "examples": explained}


def merge_faithfulness(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The faithfulness figures of several modules (independent slate agents) together."""
    if len(parts) == 1:
        return parts[0]
    n = sum(p["decisions"] for p in parts)
    top = sum(round(p["top_group_changes"][0] * p["decisions"]) for p in parts)
    rnd = sum(round(p["random_group_changes"][0] * p["decisions"]) for p in parts)
    groups: dict[str, int] = {}
    for p in parts:
        for g, count in p["top_groups"].items():
            groups[g] = groups.get(g, 0) + count
    return {"decisions": n, "top_group_changes": wilson(top, n),
            "random_group_changes": wilson(rnd, n), "top_groups": groups,
            "completeness_error_max": max(p["completeness_error_max"] for p in parts),
            "score_range": [min(p["score_range"][0] for p in parts),
                            max(p["score_range"][1] for p in parts)]}


def explanations_markdown(label: str, result: dict[str, Any]) -> str:
    """One learned policy's faithfulness figures and explained slates, as markdown."""
    f = result["faithfulness"]
    top, rnd = f["top_group_changes"], f["random_group_changes"]
    groups = ", ".join(f"{g} {n}" for g, n in sorted(f["top_groups"].items(),
                                                     key=lambda kv: -kv[1]))
    lines = [f"### {label}", "",
             f"Faithfulness over {f['decisions']} decisions: removing the top-attributed "
             f"input group changes the top recommendation in {top[0]:.1%} [{top[1]:.1%}, "
             f"{top[2]:.1%}] of them, removing a random other group in {rnd[0]:.1%} "
             f"[{rnd[1]:.1%}, {rnd[2]:.1%}] (Wilson 95% intervals). Top-attributed groups: "
             f"{groups}. Largest completeness error of the integrated gradients: "
             f"{f['completeness_error_max']:.2g} (scores {f['score_range'][0]:.3g} .. "
             f"{f['score_range'][1]:.3g}).", ""]
    slot = None
    for example in result["examples"]:
        if example["slot"] != slot:
            slot = example["slot"]
            lines += ["", f"Session in slot {slot}: {example['profile']}", ""]
        rest = "; ".join(example["slate"][1:])
        lines.append(f"- step {example['step']}: **{example['explanation']}**"
                     + (f" (also shown: {rest})" if rest else ""))
    return "\n".join(lines)


def explain_experiment(folder: Any, spec: Any, run: int = 0, episodes: int = 2,
                       sessions: int = 2, steps: int = 4) -> dict[str, dict[str, Any]]:
    """:func:`explain_policy` of run ``run``'s best modules of every learned group of the
    experiment in ``folder`` (its variant's evaluation env), on that run's first
    absolute-metric episodes; ``{}`` when the slate policy is not learned. A group whose
    slate module has no candidate-scoring actor gets ``{"skipped": reason}``."""
    from pathlib import Path

    from marlrec.config.spec import training_groups, variant_spec
    from marlrec.evaluation.protocol import (
        absolute_seed,
        best_folder,
        evaluation_env,
        learned_behaviours,
        load_modules,
    )

    if "slate_policy" not in spec.learned_roles:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for group in training_groups(spec):
        own_spec = variant_spec(spec, group.variant)
        env = evaluation_env(own_spec)
        modules, _ = load_modules(best_folder(Path(folder), group, spec.seeds[run]))
        behaviours = learned_behaviours(env, own_spec, group.algorithm, group.sharing, modules)
        try:
            out[group.label] = explain_policy(env, behaviours, episodes,
                                              absolute_seed(spec, run), sessions, steps)
        except TypeError as exc:
            out[group.label] = {"skipped": str(exc)}
    return out


def experiment_markdown(explained: dict[str, dict[str, Any]], run_seed: int) -> str:
    """The report's "Why was this slate shown?" section (empty without explanations)."""
    if not explained:
        return ""
    parts = [f"""
## Why was this slate shown? (training seed {run_seed}'s best modules)

Each decision's top recommendation (highest first-slot score of the candidate-scoring
actor) is attributed to the actor's input groups by integrated gradients; removing the
top-attributed group (in that candidate's input) is checked to change the recommendation
more often than removing a random other group. Explanations name the user's recent titles
nearest to the item and the meaning of the top group. Method:
`marlrec/evaluation/explanations.py`; more sessions: `marlrec explain RESULTS_DIR`.
"""]
    for label, result in explained.items():
        parts.append(f"### {label}\n\n{result['skipped']}" if "skipped" in result
                     else explanations_markdown(label, result))
    return "\n\n".join(parts) + "\n"

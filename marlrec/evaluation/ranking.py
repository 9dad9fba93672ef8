"""Offline ranking metrics on held-out MovieLens-100k ratings, for every recommender.

The simulated metrics say how a policy does in the ecosystem; these say how it ranks real
held-out ratings, the recommender-systems view. A policy that wins on simulated clicks but
loses on held-out ranking (or the reverse) shows in the two tables side by side.

Protocol: the split is the environment's own (``env.catalog.ratings``, a
:class:`envs.movielens.RatingSplit`: per user, a ``holdout`` share of the ratings, 20% by
default, held out by :func:`envs.movielens.heldout_split` seeded by the env's
``holdout_seed``), the one the simulator that trained the learned policies was built from
and the one the collaborative-filtering baseline trains on; it does not depend on the
evaluation seed. Everything a recommender uses (popularity, appeal, quality, the user's
state, ALS factors; for a learned policy, every click it trained on) comes from the
training ratings. Each user's unrated-in-training movies are ranked; the held-out ones are
the relevant items (binary relevance); ties are broken by one seeded random permutation of
the movies. Users with no held-out rating are skipped. An env built with ``holdout=0`` held
nothing out: there is no offline ranking for it.

Metrics at cut-off ``k``, per user, then averaged: precision@k = hits / k; recall@k = hits
/ relevant; F1@k their harmonic mean (0 when both are 0); NDCG@k with gains
``1 / log2(rank + 1)`` (:func:`marlrec.evaluation.user_model_check.ndcg_at_k`); hit rate@k = 1 when
at
least one hit.

Scores per recommender (``(n_users, n_items)``, higher first): ``random`` (seeded),
``popularity`` and ``greedy_by_appeal`` (training rating counts; appeal is their
standardised log, the same order), ``greedy_by_quality`` (the smoothed mean training
rating: the simulator's hidden quality, here from training ratings only),
``greedy_by_similarity`` (``<user state, item vector>``, the user state being the unit
mean of the centred vectors of the user's last ``history_length`` training ratings by time,
the env's ``item_mean`` state), ``collaborative_filtering`` (ALS on the training split).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.catalog import movielens_catalog
from envs.encoding import unit_rows
from envs.movielens import MovieLens100k, RatingSplit
from envs.users import latest_ratings
from marlrec.evaluation.user_model_check import ndcg_from_hits, rated_matrix, top_k_hits

METRICS = ("precision", "recall", "f1", "ndcg", "hit_rate")
BASELINE_SCORERS = ("random", "popularity", "greedy_by_appeal", "greedy_by_quality",
                    "greedy_by_similarity", "collaborative_filtering")


def ranking_metrics(scores: np.ndarray, relevant: np.ndarray, k: int,
                    candidates: np.ndarray | None = None,
                    tiebreak: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-user precision, recall, F1, NDCG and hit rate at ``k`` of ranking the candidate
    columns by ``scores`` (see the module docstring); rows without a relevant candidate are
    dropped. Arguments as :func:`marlrec.evaluation.user_model_check.ndcg_at_k`."""
    ranked, relevant = top_k_hits(scores, relevant, k, candidates, tiebreak)
    hits = ranked.sum(axis=1)
    n_relevant = relevant.sum(axis=1)
    keep = n_relevant > 0
    precision = hits[keep] / k
    recall = hits[keep] / n_relevant[keep]
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return {
        "precision": precision, "recall": recall, "f1": f1,
        "ndcg": ndcg_from_hits(ranked, n_relevant, k)[keep],
        "hit_rate": (hits[keep] > 0).astype(np.float64),
    }


def recent_item_state(data: MovieLens100k, train: np.ndarray, item_vectors: np.ndarray,
                      history_length: int) -> np.ndarray:
    """``(n_users, d)`` unit mean of the vectors of each user's last ``history_length``
    training ratings by time (zero for a user with none)."""
    recent = latest_ratings(data, train, history_length)
    state = np.zeros((data.n_users, item_vectors.shape[1]), np.float32)
    np.add.at(state, data.rating_user[recent], item_vectors[data.rating_item[recent]])
    return unit_rows(state)


def baseline_scores(name: str, data: MovieLens100k, train: np.ndarray,
                    item_vectors: np.ndarray, history_length: int = 5,
                    seed: int = 0) -> np.ndarray:
    """``(n_users, n_items)`` scores of the baseline ``name`` (:data:`BASELINE_SCORERS`)
    from the ``train`` ratings only."""
    shape = (data.n_users, data.n_items)
    if name == "random":
        return np.random.default_rng(seed + 23).random(shape)
    if name == "collaborative_filtering":
        from marlrec.evaluation.collaborative_filtering import train_als

        factors = train_als(data, train, seed=seed)
        return factors.user @ factors.item.T
    if name == "greedy_by_similarity":
        state = recent_item_state(data, train, item_vectors, history_length)
        return state @ item_vectors.T
    catalog = movielens_catalog(data, rating_mask=train)
    column = {"popularity": catalog.prior_popularity, "greedy_by_appeal": catalog.appeal,
              "greedy_by_quality": catalog.quality}
    if name not in column:
        raise ValueError(f"unknown baseline {name!r} for offline ranking; allowed: "
                         f"{list(BASELINE_SCORERS)}")
    return np.broadcast_to(column[name].astype(np.float64), shape)


def heldout_ranking(ratings: RatingSplit, scorers: dict[Any, Any], k: int = 10,
                    seed: int = 0) -> dict[Any, dict[str, float]]:
    """Mean metrics at ``k`` (and the number of users) of each scorer,
    ``scorers[name](train_mask) -> scores``, on the held-out ratings of ``ratings`` (for an
    experiment, the env's split: ``env.catalog.ratings``); ``seed`` draws the tie-break
    order of the movies. Raises ``ValueError`` when nothing is held out."""
    if not ratings.has_heldout:
        raise ValueError("no rating is held out (holdout=0: the simulator was built from "
                         "every rating): there is nothing to rank offline")
    data, train = ratings.data, ratings.train
    candidates = ~rated_matrix(data, train)
    relevant = rated_matrix(data, ~train)
    tiebreak = np.random.default_rng(seed).permutation(data.n_items)
    out: dict[Any, dict[str, Any]] = {}
    for name, scorer in scorers.items():
        per_user = ranking_metrics(scorer(train), relevant, k, candidates, tiebreak)
        out[name] = {m: float(v.mean()) for m, v in per_user.items()}
        out[name]["users"] = int(per_user["ndcg"].size)
    return out


# ----------------------------------------------------------------------------- learned


def user_states(env: Any, data: MovieLens100k, train: np.ndarray) -> np.ndarray:
    """``(n_users, d)``: each MovieLens user's state as ``env`` would show it to the slate
    policy after the user's last ``history_length`` training ratings (by time) were the
    session's history: ``item_mean`` (and ``id``, whose policy does not read it) the unit
    mean of their vectors (the profile's vector for a user with none), ``text`` and
    ``text_deferred`` the encoded "profile + Recently watched: titles" centred as the env
    does (``unit(encode(text) - env.state_centre)``: what RLlib's connector writes into a
    ``text_deferred`` observation during training), ``interest`` the interest built from the
    training ratings. With ``cold_start``, as in the env, a cold user has no history
    (profile only) and no history holds a cold item."""
    from envs.ecosystem import user_state_text

    cfg, vectors, split = env.config, env.item_vectors, env.cold_split
    if cfg.user_state == "interest":
        from envs.users import MovieLensUsers

        return MovieLensUsers(data, rating_mask=train).build(env.catalog, vectors).interest
    seen = train & ~split.cold_users[data.rating_user] & ~split.cold_items[data.rating_item]
    if cfg.user_state not in ("text", "text_deferred"):
        state = recent_item_state(data, seen, vectors, cfg.user_model.history_length)
        no_history = ~state.any(axis=1)
        state[no_history] = env.profile_vectors[no_history]
        return state
    recent: list[list[str]] = [[] for _ in range(data.n_users)]
    for i in latest_ratings(data, seen, cfg.user_model.history_length):
        recent[data.rating_user[i]].append(env.catalog.titles[data.rating_item[i]])
    texts = [user_state_text(profile, titles)
             for profile, titles in zip(env.population.profiles, recent, strict=True)]
    return unit_rows(np.asarray(env.state_encoder(texts), np.float32) - env.state_centre)


def policy_scores(behaviour: Any, env: Any, data: MovieLens100k, train: np.ndarray,
                  users_per_batch: int = 16) -> np.ndarray:
    """``(n_users, n_items)`` scores of a learned slate policy (a
    :class:`marlrec.evaluation.learned_behaviour.LearnedBehaviour`): its first slot's logits
    (SlateQ: the value of showing the movie alone) for every movie, shown
    ``num_candidates`` at a time as candidates of an observation built as ``env`` builds
    them at a session's start (the user's state, see :func:`user_states`;
    appeal, popularity and quality from the training ratings, none for ``cold_start``'s
    new movies; nothing observed yet; ids for ``user_state="id"``; vectors in the env's
    observation basis, the similarity feature at full width). Exact
    for the candidate-scoring actor, whose score of a candidate does not depend on the
    others; an ``mlp`` actor's depend on the chunk they are shown in."""
    from envs.ecosystem import candidate_feature_count, show_ids_instead_of_text
    from envs.observation import FEATURE_BOUND

    cfg, vectors = env.config, env.item_vectors
    c, n = cfg.num_candidates, data.n_items
    state = user_states(env, data, train)
    catalog = movielens_catalog(data, rating_mask=train)
    popularity = np.log1p(catalog.prior_popularity) / np.log1p(
        catalog.prior_popularity.max() + 1.0)
    new = env.cold_split.cold_items  # all False without cold_start
    appeal, popularity = np.where(new, 0.0, catalog.appeal), np.where(new, 0.0, popularity)
    ids = cfg.user_state == "id"
    chunks = -(-n // c)
    layout = np.resize(np.arange(n), chunks * c).reshape(chunks, c)  # last chunk wraps
    n_features = candidate_feature_count(cfg)  # exposure, if revealed: 0 (none yet)
    out = np.empty((data.n_users, n))
    for start in range(0, data.n_users, users_per_batch):
        users = np.arange(start, min(start + users_per_batch, data.n_users))
        items = np.tile(layout, (users.size, 1))  # (users * chunks, c)
        user_state = np.repeat(state[users], chunks, axis=0)
        candidates = vectors[items]
        features = np.zeros((*items.shape, n_features), np.float32)
        features[..., 0] = appeal[items]
        features[..., 1] = popularity[items]
        if not ids:
            features[..., 3] = np.einsum("rcd,rd->rc", candidates, user_state)
        if cfg.reveal_quality:
            features[..., 4] = catalog.quality[items]
        obs = {"user_state": env.to_observation_basis(user_state),
               "candidates": env.to_observation_basis(candidates),
               "candidate_features": np.clip(features, -FEATURE_BOUND, FEATURE_BOUND),
               "session": np.zeros((items.shape[0], 2), np.float32)}
        if ids:
            show_ids_instead_of_text(obs, env.cold_split, np.repeat(users, chunks), items)
        if env.item_features is not None:
            obs["candidate_attributes"] = env.item_features.build(items, env.catalog.provider)
        if cfg.intent == "on":  # offline there is no stated intent
            obs["intent"] = np.zeros_like(obs["user_state"])
        first_slot = behaviour.candidate_scores(obs).cpu().numpy()
        out[users] = first_slot.reshape(users.size, chunks * c)[:, :n]
    return out


# ----------------------------------------------------------------------------- experiments


def experiment_ranking(folder: Any, spec: Any, env: Any, k: int = 10
                       ) -> dict[str, dict[str, Any]] | None:
    """Held-out ranking metrics of every learned slate policy (each run's best modules;
    means over runs, and each run's) and every slate baseline of an experiment on
    MovieLens-100k, on the held-out ratings of ``env``'s own split (``env.catalog.ratings``:
    the ratings the simulator, hence the learned policies, never saw). Names as in the
    report (``"<algorithm> <sharing>[ <variant>]"``, baseline names).

    ``None`` when the experiment has no learned slate policy or its catalog is not built
    from ratings (not MovieLens), and when the env was built with ``holdout=0``: then every
    rating shaped the simulator the policies trained in, no rating is unseen, and ranking
    any of them would score a policy on what it was trained on."""
    ratings = getattr(env.catalog, "ratings", None)
    if ratings is None or not ratings.has_heldout or "slate_policy" not in spec.learned_roles:
        return None
    from marlrec.evaluation.learned_behaviour import LearnedBehaviour
    from marlrec.evaluation.protocol import best_folder, load_modules
    from marlrec.training.sharing import module_table

    data = ratings.data
    seed = spec.evaluation.seed  # the tie-break order and the random scorer, not the split
    scorers: dict[Any, Any] = {}  # baseline name, or (learned policy, run) -> scorer
    for name in spec.evaluation.baselines:
        if name in BASELINE_SCORERS:
            scorers[name] = (lambda train, n=name: baseline_scores(
                n, data, train, env.item_vectors, env.config.user_model.history_length, seed))
    from marlrec.config.spec import training_groups, variant_spec
    from marlrec.evaluation.protocol import evaluation_env

    groups = training_groups(spec)
    for group in groups:
        # a variant may change what the policy observes: its own env (same catalog, split)
        own = env if group.variant is None else evaluation_env(
            variant_spec(spec, group.variant))
        space = own.observation_space("slate_policy_0")
        module_id = module_table(own, spec.learned_roles, group.sharing)["slate_policy_0"]
        for r, run_seed in enumerate(spec.seeds):
            modules, _ = load_modules(best_folder(folder, group, run_seed))
            behaviour = LearnedBehaviour(modules[module_id], space, module_id)
            scorers[group.label, r] = (
                lambda train, b=behaviour, e=own: policy_scores(b, e, data, train))
    table = heldout_ranking(ratings, scorers, k=k, seed=seed)  # one split for every scorer
    for name in (g.label for g in groups):
        runs = [table.pop((name, r)) for r in range(len(spec.seeds))]
        table[name] = {**{m: float(np.mean([run[m] for run in runs])) for m in METRICS},
                       "users": runs[0]["users"], "runs": runs}
    return table

"""Off-policy estimators of a target slate policy's value from logged slates.

``V(pi) = E_x E_{A ~ pi(.|x)} r(x, A)``, the target's expected reward per shown slate on the
logged contexts, from rows ``(x_i, A_i, r_i, mu(A_i|x_i))`` logged by ``mu``:

- ``IPS`` (inverse propensity scoring): ``mean(w_i r_i)``, ``w_i = pi(A_i|x_i) / mu(A_i|x_i)``
  over whole slates; unbiased where ``mu`` covers ``pi``, its variance grows with the number
  of slates;
- ``SNIPS`` (self-normalised IPS, Swaminathan & Joachims 2015): ``sum(w r) / sum(w)``;
  biased, consistent, lower variance;
- ``DM`` (direct method): ``mean(E_{A~pi} q(x_i, A))`` with a reward model ``q``; here
  additive over positions, linear in each slate item's candidate features with
  per-position weights (ridge, fitted on the logs);
- ``DR`` (doubly robust, Dudik et al. 2011): ``mean(E_pi q(x_i, .) + w_i (r_i - q(x_i,
  A_i)))``, the reward model cross-fitted on two halves;
- ``PI`` (pseudo-inverse, Swaminathan et al. 2017, "Off-policy evaluation for slate
  recommendation"): ``mean(r_i q_pi(x_i)^T Gamma_mu(x_i)^+ 1_{A_i})``, ``1_A`` the
  (position, candidate) indicator of a slate, ``q_pi`` the target's (position,
  candidate) marginals, ``Gamma_mu = E_mu[1_A 1_A^T]`` the logging policy's pairwise
  marginals (enumerated exactly); unbiased when the reward is additive over the slate's
  (position, item) pairs, with far smaller weights than IPS.
"""

from __future__ import annotations

import numpy as np

ESTIMATORS = ("IPS", "SNIPS", "DM", "DR", "PI")
RIDGE = 1.0


def indicators(slates: np.ndarray, num_candidates: int) -> np.ndarray:
    """``(..., S * C)`` the (position, candidate) indicators of slates ``(..., S)``."""
    s = slates.shape[-1]
    out = np.zeros((*slates.shape[:-1], s * num_candidates))
    index = np.arange(s) * num_candidates + slates
    np.put_along_axis(out, index, 1.0, axis=-1)
    return out


def pseudo_inverse_weights(logging_probs: np.ndarray, all_slates: np.ndarray,
                           logged: np.ndarray, target_marginals: np.ndarray) -> np.ndarray:
    """``(n,)`` ``q_pi^T Gamma_mu^+ 1_A`` per row: ``logging_probs`` ``(n, K)`` every ordered
    slate's probability under ``mu``, ``all_slates`` ``(K, S)``, ``logged`` ``(n, S)``,
    ``target_marginals`` ``(n, S * C)``."""
    c = target_marginals.shape[1] // all_slates.shape[1]
    ind = indicators(all_slates, c)  # (K, SC)
    gamma = np.einsum("nk,ka,kb->nab", logging_probs, ind, ind)
    pinv = np.linalg.pinv(gamma, hermitian=True)
    return np.einsum("na,nab,nb->n", target_marginals, pinv, indicators(logged, c))


def slate_features(candidate_features: np.ndarray, slates: np.ndarray) -> np.ndarray:
    """``(n, S * F)`` each slate item's candidate features, by position."""
    rows = np.arange(slates.shape[0])[:, None]
    return candidate_features[rows, slates].reshape(slates.shape[0], -1)


def fit_reward_model(features: np.ndarray, rewards: np.ndarray) -> np.ndarray:
    """Ridge regression coefficients (intercept first) of rewards on slate features."""
    x = np.hstack([np.ones((features.shape[0], 1)), features])
    penalty = RIDGE * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(x.T @ x + penalty, x.T @ rewards)


def predict(beta: np.ndarray, features: np.ndarray) -> np.ndarray:
    return beta[0] + features @ beta[1:]


def estimate(rewards: np.ndarray, weights: np.ndarray, pi_weights: np.ndarray,
             logged_features: np.ndarray, target_features: np.ndarray,
             rng: np.random.Generator) -> dict[str, float]:
    """Every estimator's value on one sample of rows: ``weights`` the slate importance
    weights ``pi/mu``, ``pi_weights`` the pseudo-inverse weights, ``logged_features`` the
    logged slates' features and ``target_features`` their expectation under the target."""
    n = rewards.size
    fold = rng.permutation(n) % 2  # two folds: each half's model fitted on the other
    q_logged, q_target = np.empty(n), np.empty(n)
    for k in (0, 1):
        train, test = fold != k, fold == k
        beta = fit_reward_model(logged_features[train], rewards[train])
        q_logged[test] = predict(beta, logged_features[test])
        q_target[test] = predict(beta, target_features[test])
    total = weights.sum()
    return {"IPS": float(np.mean(weights * rewards)),
            "SNIPS": float((weights * rewards).sum() / total) if total > 0 else float("nan"),
            "DM": float(np.mean(q_target)),
            "DR": float(np.mean(q_target + weights * (rewards - q_logged))),
            "PI": float(np.mean(pi_weights * rewards))}

"""How well each off-policy estimator recovers each target's true value, as a function of
the log's size: the study ``marlrec log`` runs on the logs it wrote.

For each target policy the truth is the mean over all logged contexts of its slate's
expected watch time under the users' true choice model (``target_<name>_value``). For each
log size ``n``, ``repeats`` samples of ``n`` rows (without replacement) are drawn from the
log; on each, every estimator (:mod:`marlrec.offline.estimators`) estimates the target's
value. Bias is the mean estimate minus the truth, the standard deviation is across
samples, and RMSE is their root mean squared error: all three against ``n`` in
``ope_error.png``, the figures in ``ope.json`` and ``ope.md``. The samples are drawn from
one log, so they are nearly independent only while ``n`` is a small share of it (the
report gives the share): at a large share every sample is nearly the whole log and the
"bias" is that log's own error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from marlrec.offline.estimators import (
    ESTIMATORS,
    indicators,
    pseudo_inverse_weights,
    slate_features,
)
from marlrec.offline.logging_policy import ordered_slates, slate_probabilities


def target_terms(logs: dict[str, np.ndarray], target: str, num_candidates: int
                 ) -> dict[str, np.ndarray]:
    """Per row, what the estimators need of ``target``: the slate importance weight, the
    pseudo-inverse weight, the target's expected slate features, its true value."""
    actions = logs["actions"]
    n, s = actions.shape
    features = logs["candidate_features"].reshape(n, num_candidates, -1)
    all_slates = ordered_slates(num_candidates, s)
    mu_all = slate_probabilities(logs["logging_weights"], all_slates)
    if target == "random":
        pi_logged = np.full(n, 1.0 / all_slates.shape[0])
        marginals = np.full((n, s * num_candidates), 1.0 / num_candidates)
        target_features = np.tile(features.mean(axis=1), (1, s))
    else:
        chosen = logs[f"target_{target}_slate"]
        pi_logged = np.all(actions == chosen, axis=1).astype(np.float64)
        marginals = indicators(chosen, num_candidates)
        target_features = slate_features(features, chosen)
    return {"weights": pi_logged / logs["action_prob"],
            "pi_weights": pseudo_inverse_weights(mu_all, all_slates, actions, marginals),
            "target_features": target_features,
            "truth": logs[f"target_{target}_value"]}


def run_study(logs: dict[str, np.ndarray], targets: list[str], sizes: list[int],
              repeats: int, seed: int, progress: Any = None) -> dict[str, Any]:
    """Every estimator's bias, standard deviation and RMSE per target and log size."""
    from marlrec.offline.estimators import estimate

    n_rows, _ = logs["actions"].shape
    c = logs["candidate_items"].shape[1]
    features = logs["candidate_features"].reshape(n_rows, c, -1)
    logged_features = slate_features(features, logs["actions"])
    rewards = logs["rewards"].astype(np.float64)
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"rows": int(n_rows), "sizes": [n for n in sizes if n <= n_rows],
                           "repeats": repeats, "targets": {},
                           "logging_value": {"logged_reward_mean": float(rewards.mean()),
                                             "expected": float(logs["expected_reward"].mean())}}
    for target in targets:
        terms = target_terms(logs, target, c)
        truth = float(terms["truth"].mean())
        per_size = {}
        for n in out["sizes"]:
            estimates = {e: [] for e in ESTIMATORS}
            for _ in range(repeats):
                rows = rng.choice(n_rows, n, replace=False)
                values = estimate(rewards[rows], terms["weights"][rows],
                                  terms["pi_weights"][rows], logged_features[rows],
                                  terms["target_features"][rows], rng)
                for e, v in values.items():
                    estimates[e].append(v)
                if progress is not None:
                    progress()
            per_size[n] = {e: summary(np.array(v), truth) for e, v in estimates.items()}
        out["targets"][target] = {
            "truth": truth, "by_size": per_size,
            "logged_share": float((terms["weights"] > 0).mean()),
            "max_weight": float(terms["weights"].max())}
    return out


def summary(estimates: np.ndarray, truth: float) -> dict[str, float]:
    finite = estimates[np.isfinite(estimates)]
    if finite.size == 0:
        return {"mean": float("nan"), "bias": float("nan"), "std": float("nan"),
                "rmse": float("nan"), "undefined": int(estimates.size)}
    return {"mean": float(finite.mean()), "bias": float(finite.mean() - truth),
            "std": float(finite.std()),
            "rmse": float(np.sqrt(np.mean((finite - truth) ** 2))),
            "undefined": int(estimates.size - finite.size)}


def plot_study(study: dict[str, Any], path: Path) -> None:
    """Bias, standard deviation and RMSE against log size (log scale), one column per
    target, one line per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(study["targets"])
    sizes = study["sizes"]
    fig, axes = plt.subplots(3, len(targets), figsize=(3.8 * len(targets) + 1, 8.5),
                             squeeze=False, sharex=True)
    for col, target in enumerate(targets):
        by_size = study["targets"][target]["by_size"]
        for row, (key, label) in enumerate((("bias", "bias"), ("std", "standard deviation"),
                                            ("rmse", "RMSE"))):
            ax = axes[row][col]
            for i, estimator in enumerate(ESTIMATORS):
                ax.plot(sizes, [by_size[n][estimator][key] for n in sizes], marker="o",
                        color=f"C{i}", label=estimator)
            ax.set_xscale("log")
            if key != "bias":
                ax.set_yscale("log")
            else:
                ax.axhline(0.0, color="grey", linewidth=0.8)
            if col == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"{target} (true value {study['targets'][target]['truth']:.3g})")
            if row == 2:
                ax.set_xlabel("logged slates")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Off-policy estimates of each target's value against the simulator's truth")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def study_markdown(study: dict[str, Any], command: str, logging: str) -> str:
    """``ope.md``: per target the truth and each estimator's bias, std and RMSE at the
    smallest and largest log sizes (once, for a study of one size)."""
    small, large = study["sizes"][0], study["sizes"][-1]
    sizes = [small] if small == large else [small, large]
    lines = [f"# Off-policy evaluation from {study['rows']:,} logged slates", "",
             f"Made by `{command}`. Logging policy: {logging}; mean logged reward "
             f"{study['logging_value']['logged_reward_mean']:.3g} (its expected value "
             f"{study['logging_value']['expected']:.3g}). Each figure is over "
             f"{study['repeats']} samples of the log without replacement (the largest "
             f"{large / study['rows']:.0%} of the log); method: `marlrec/offline/study.py`.",
             ""]
    for target, entry in study["targets"].items():
        lines += [f"## {target}: true value {entry['truth']:.4g}", "",
                  f"The logging policy showed the target's slate in "
                  f"{entry['logged_share']:.1%} of the contexts (largest importance weight "
                  f"{entry['max_weight']:.3g}).", "",
                  "| estimator | " + " | ".join(f"bias (n={n:,}) | std (n={n:,}) | RMSE (n={n:,})"
                                                for n in sizes) + " |",
                  "|---|" + "---:|" * (3 * len(sizes))]
        for estimator in ESTIMATORS:
            cells = [entry["by_size"][n][estimator] for n in sizes]
            lines.append(f"| {estimator} | " + " | ".join(
                f"{c['bias']:.3g} | {c['std']:.3g} | {c['rmse']:.3g}" for c in cells) + " |")
        lines.append("")
    lines.append("![bias, standard deviation and RMSE against log size](ope_error.png)")
    return "\n".join(lines) + "\n"

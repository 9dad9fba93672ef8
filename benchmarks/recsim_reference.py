"""RecSim 0.2.4's own interest_evolution returns for the three scripted baselines of the
parity benchmark. Runs inside RecSim's venv (made by ../shared/anchors/recsim_throughput.sh),
not ours: ``benchmarks/recsim_parity.py --recsim-python PATH`` calls it.

Usage: recsim_reference.py NUM_CANDIDATES SLATE_SIZE EPISODES SEED. Prints one JSON line:
the mean (and standard error) of the episode return of ``random``, ``myopic`` (the
``slate_size`` candidates of highest ``<user interest, document features>``, RecSim's
observation) and ``quality_oracle`` (highest hidden quality, read from the documents),
and RecSim's user-steps/s over all the episodes.
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
from recsim.environments import interest_evolution  # noqa: E402


def main() -> None:
    num_candidates, slate_size, episodes, seed = (int(a) for a in sys.argv[1:5])
    # RecSim draws the interest update's sign from numpy's legacy global generator
    np.random.seed(seed)  # noqa: NPY002
    rng = np.random.default_rng(seed)
    env = interest_evolution.create_environment({
        "num_candidates": num_candidates, "slate_size": slate_size,
        "resample_documents": True, "seed": seed})
    inner = env._environment  # the candidates' hidden quality, for the oracle

    def slate(policy: str, obs: dict) -> list[int]:
        if policy == "random":
            return rng.choice(num_candidates, slate_size, replace=False).tolist()
        if policy == "myopic":
            features = np.stack(list(obs["doc"].values()))
            scores = features @ obs["user"]
        else:
            docs = inner._candidate_set.get_documents(list(obs["doc"]))
            scores = np.array([d.quality for d in docs])
        return np.argsort(-scores, kind="stable")[:slate_size].tolist()

    out: dict = {}
    steps, started = 0, time.perf_counter()
    for policy in ("random", "myopic", "quality_oracle"):
        returns = []
        for _ in range(episodes):
            obs, total, done = env.reset(), 0.0, False
            while not done:
                obs, reward, done, _ = env.step(slate(policy, obs))
                total += reward
                steps += 1
            returns.append(total)
        out[policy] = float(np.mean(returns))
        out[f"{policy}_sem"] = float(np.std(returns, ddof=1) / np.sqrt(len(returns)))
    out["user_steps_per_s"] = steps / (time.perf_counter() - started)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""RecSim parity: our ``recsim_interest_evolution`` preset against RecSim 0.2.4 itself.

Runs the three scripted slate policies of the parity check on ``--episodes`` episodes
(one user session each) of the preset: ``random``, ``myopic`` (greedy by similarity to
the user state, which in this preset is the user's interest: the highest click
affinity) and ``quality_oracle`` (greedy by hidden quality). Then, in the same run, the
same three policies in RecSim's own env (``benchmarks/recsim_reference.py`` under the
RecSim venv that ``../shared/anchors/recsim_throughput.sh`` installs; installed on first
use unless ``--no-recsim``), and the ratio ours / RecSim of each mean return.

User-steps/s: the preset's scripted rollouts (policy calls included), against RecSim's
over its episodes (policy calls included too); and ``user_steps_per_s_batched``: the
preset with 64 concurrent sessions (``num_sessions=64``, sessions replaced as they end,
``session_ends_episode=False``), random slates, the vectorised way to simulate many users.

Usage::

    .venv/bin/python benchmarks/recsim_parity.py [--num-candidates 10] [--slate-size 2]
        [--episodes 300] [--seed 0] [--no-recsim]

Prints a table and, as the last line of stdout, a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import envs  # noqa: E402

ANCHOR = REPO.parent / "shared" / "anchors" / "recsim_throughput.sh"
RECSIM_VENV = Path(os.environ.get("RECSIM_VENV") or Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marlrec-anchors"
                   / "recsim-venv")
POLICIES = {"random": "random", "myopic": "greedy_by_similarity",
            "quality_oracle": "greedy_by_quality"}
TOLERANCE = 0.05  # the parity criterion: within 5% of RecSim's returns


def ours(args: argparse.Namespace, progress: Progress) -> dict[str, float]:
    env = envs.make_env("recsim_interest_evolution", num_candidates=args.num_candidates,
                        slate_size=args.slate_size)
    out: dict[str, float] = {}
    steps, seconds = 0, 0.0
    for name, policy in POLICIES.items():
        task = progress.add_task(f"ours: {name}", total=args.episodes)
        behaviours = envs.scripted_behaviours(env, slate_policy=policy)
        returns = []
        for episode in range(args.episodes):  # one episode per call: progress per episode
            started = time.perf_counter()
            result = envs.rollout(env, behaviours, episodes=1, seed=args.seed * 100_003 + episode)
            seconds += time.perf_counter() - started
            steps += result.user_steps
            returns.append(result.role_returns[0]["slate_policy"])
            progress.advance(task)
        out[name] = float(np.mean(returns))
        out[f"{name}_sem"] = float(np.std(returns, ddof=1) / np.sqrt(len(returns)))
    out["user_steps_per_s"] = steps / seconds
    batched = envs.make_env("recsim_interest_evolution", num_candidates=args.num_candidates,
                            slate_size=args.slate_size, num_sessions=64,
                            session_ends_episode=False, horizon=200)
    behaviours = envs.scripted_behaviours(batched, slate_policy="random")
    task = progress.add_task("ours: 64 concurrent sessions", total=3)
    envs.rollout(batched, behaviours, episodes=1, seed=args.seed)  # warm-up
    steps, started = 0, time.perf_counter()
    for episode in range(3):
        steps += envs.rollout(batched, behaviours, episodes=1, seed=episode).user_steps
        progress.advance(task)
    out["user_steps_per_s_batched"] = steps / (time.perf_counter() - started)
    return out


def recsim(args: argparse.Namespace, progress: Progress) -> tuple[dict[str, float] | None, str]:
    if args.no_recsim:
        return None, "skipped (--no-recsim)"
    python = RECSIM_VENV / "bin" / "python"
    if not python.exists():
        if not ANCHOR.exists():
            return None, f"no RecSim venv at {RECSIM_VENV} and no anchor script at {ANCHOR}"
        task = progress.add_task("installing RecSim (first run only)", total=None)
        subprocess.run(["bash", str(ANCHOR), "1"], check=False, capture_output=True,
                       env={**os.environ, "RECSIM_VENV": str(RECSIM_VENV)})
        progress.remove_task(task)
        if not python.exists():
            return None, f"installing RecSim into {RECSIM_VENV} failed (run {ANCHOR})"
    task = progress.add_task("RecSim 0.2.4: 3 policies", total=None)
    done = subprocess.run(
        [str(python), str(REPO / "benchmarks" / "recsim_reference.py"),
         str(args.num_candidates), str(args.slate_size), str(args.episodes), str(args.seed)],
        capture_output=True, text=True, check=False)
    progress.remove_task(task)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, f"recsim_reference.py failed: {done.stderr.strip()[-500:]}"
    return json.loads(lines[-1]), "RecSim 0.2.4, same policies and episode count"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-candidates", type=int, default=10)
    p.add_argument("--slate-size", type=int, default=2)
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-recsim", action="store_true", help="skip RecSim's own figures")
    args = p.parse_args()
    if args.episodes < 2:
        p.error(f"--episodes={args.episodes} must be >= 2 (a standard error needs two)")
    if not 1 <= args.slate_size <= args.num_candidates:
        p.error(f"--slate-size={args.slate_size} must be in [1, --num-candidates="
                f"{args.num_candidates}]")

    console = Console(stderr=True)
    with Progress(console=console) as progress:
        mine = ours(args, progress)
        theirs, source = recsim(args, progress)

    table = Table(title=f"RecSim interest_evolution, slate {args.slate_size} of "
                        f"{args.num_candidates}, {args.episodes} episodes")
    for column in ("policy", "marlrec preset", "RecSim 0.2.4", "ratio"):
        table.add_column(column, justify="right")
    result: dict = {"num_candidates": args.num_candidates, "slate_size": args.slate_size,
                    "episodes": args.episodes, "seed": args.seed,
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                    "date": datetime.now(UTC).strftime("%Y-%m-%d"), "recsim_source": source}
    for name in POLICIES:
        result[name] = round(mine[name], 2)
        result[f"{name}_sem"] = round(mine[f"{name}_sem"], 2)
        row = [name, f"{mine[name]:.1f} ± {mine[f'{name}_sem']:.1f}"]
        if theirs is not None:
            ratio = mine[name] / theirs[name]
            result[f"recsim_{name}"] = round(theirs[name], 2)
            result[f"ratio_{name}"] = round(ratio, 4)
            row += [f"{theirs[name]:.1f} ± {theirs[f'{name}_sem']:.1f}", f"{ratio:.3f}"]
        else:
            row += ["-", "-"]
        table.add_row(*row)
    result["user_steps_per_s"] = round(mine["user_steps_per_s"])
    result["user_steps_per_s_batched"] = round(mine["user_steps_per_s_batched"])
    if theirs is not None:
        result["recsim_user_steps_per_s"] = round(theirs["user_steps_per_s"])
        result["within_tolerance"] = all(abs(result[f"ratio_{n}"] - 1) <= TOLERANCE
                                         for n in POLICIES)
    table.add_row("user-steps/s", f"{mine['user_steps_per_s']:.0f}",
                  f"{theirs['user_steps_per_s']:.0f}" if theirs else "-",
                  f"{mine['user_steps_per_s'] / theirs['user_steps_per_s']:.2f}"
                  if theirs else "-")
    table.add_row("user-steps/s, 64 sessions", f"{mine['user_steps_per_s_batched']:.0f}",
                  f"{theirs['user_steps_per_s']:.0f}" if theirs else "-",
                  f"{mine['user_steps_per_s_batched'] / theirs['user_steps_per_s']:.2f}"
                  if theirs else "-")
    console.print(table)
    if theirs is None:
        console.print(f"RecSim not measured: {source}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

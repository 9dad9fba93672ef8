"""Training throughput of an experiment spec, at this checkout or at another commit.

Runs ``marlrec run SPEC`` (W&B disabled, a fresh results folder) with the source tree of
``--ref`` (a ``git worktree`` of that commit, put first on ``PYTHONPATH``, so the same
``.venv`` runs the old code) or of this checkout, then reads every trial's ``result.json``:

- ``env_steps_per_s``: ``num_env_steps_sampled_lifetime / time_total_s`` of the trial's last
  result (sampling, learner and in-training evaluations; Ray's start is not in it), the mean
  over trials;
- ``learner_samples_per_s``: module steps trained per second of ``learner_update_timer``
  (sum over iterations after the first), the mean over trials;
- ``sampling_env_steps_per_s``: env steps per second of ``env_runner_sampling_timer``;
- the wall-clock seconds of the whole command (Ray start, the final report included).

Usage::

    python benchmarks/training_throughput.py --ref 72283b6 -- --set stop.env_steps=6400
    python benchmarks/training_throughput.py -- --set stop.env_steps=6400   # this checkout

Everything after ``--`` is passed to ``marlrec run``. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def trial_figures(result_json: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in result_json.read_text().splitlines() if line.strip()]
    last = rows[-1]
    steps = last["env_runners"]["num_env_steps_sampled_lifetime"]
    trained = sampling = learner = sampled = 0.0
    for row in rows[1:]:  # the first iteration pays torch's and RLlib's warm-up
        timers = row.get("timers", {})
        learner += timers.get("learner_update_timer", 0.0)
        sampling += timers.get("env_runner_sampling_timer", 0.0)
        sampled += row["env_runners"].get("num_env_steps_sampled", 0)
        trained += sum(v.get("num_module_steps_trained", 0)
                       for k, v in row.get("learners", {}).items()
                       if isinstance(v, dict) and k != "__all_modules__")
    return {"env_steps": steps, "time_total_s": last["time_total_s"],
            "env_steps_per_s": steps / last["time_total_s"],
            "learner_samples_per_s": trained / learner if learner else float("nan"),
            "sampling_env_steps_per_s": sampled / sampling if sampling else float("nan"),
            "iterations": len(rows)}


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", help="git commit to measure (default: this checkout)")
    parser.add_argument("--spec", default="experiments/quickstart.yaml")
    parser.add_argument("--name", default="throughput")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="marlrec-throughput-"))
    source = ROOT
    if args.ref:
        source = work / "src"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(source),
                        args.ref], check=True, capture_output=True)
    commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
                            check=True, capture_output=True, text=True).stdout.strip()
    results = work / "results"
    env = {**os.environ, "PYTHONPATH": str(source), "RAY_AUTH_MODE": "disabled",
           "WANDB_MODE": "disabled"}
    command = [sys.executable, "-m", "marlrec.cli", "run", args.spec,
               "--set", f"logging.results_dir={results}", "--set", f"name={args.name}",
               "--set", "logging.wandb_mode=disabled", *extra]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=source, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"marlrec run failed at {commit} ({done.returncode})")
    trials = [trial_figures(p) for p in sorted((results / args.name).glob("*/*/result.json"))]
    if args.ref:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(source)],
                       check=False, capture_output=True)
    shutil.rmtree(work, ignore_errors=True)

    def mean(key: str) -> float:
        return sum(t[key] for t in trials) / len(trials)

    out = {"benchmark": "training_throughput", "commit": commit, "spec": args.spec,
           "overrides": extra, "trials": trials,
           "env_steps_per_s": mean("env_steps_per_s"),
           "learner_samples_per_s": mean("learner_samples_per_s"),
           "sampling_env_steps_per_s": mean("sampling_env_steps_per_s"),
           "wall_s": wall,
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "platform": platform.platform()},
           "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    print(f"{commit}: {out['env_steps_per_s']:.1f} env steps/s of training per trial, "
          f"learner {out['learner_samples_per_s']:.0f} samples/s, sampling "
          f"{out['sampling_env_steps_per_s']:.1f} env steps/s, {wall:.0f} s wall")
    print(json.dumps(out))


if __name__ == "__main__":
    main()

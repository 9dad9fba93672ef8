"""How long the CLI takes to answer when nothing needs Ray or torch.

Times, in fresh Python processes (the median of ``--repeats`` runs each):

a. ``help``: ``marlrec --help``;
b. ``spec_error``: ``marlrec run experiments/quickstart.yaml --set algorithms=[XYZ]`` (a
   spec error, answered before Ray starts);
c. ``validate``: importing the spec validator and validating every shipped spec
   (``experiments/**/*.yaml``, without the data check);
d. ``import_spec``: ``import`` of the spec module alone.

``--repo PATH`` times another checkout of marlrec (e.g. a worktree of the commit before a
change) with this venv, so a change is measured against the commit before it in the same
run: ``--repo /tmp/before`` runs the same commands there (module paths as that checkout
names them: ``--spec-module marlrec.spec`` for commits before the package restructure).

Usage::

    .venv/bin/python benchmarks/cli_startup.py [--repeats 7] [--repo PATH] [--spec-module M]

Prints a table, and as the last line of stdout a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, repeats: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--spec-module", default="marlrec.config.spec")
    args = parser.parse_args()
    loader = ("marlrec.config.loading" if args.spec_module == "marlrec.config.spec"
              else args.spec_module)
    py = sys.executable
    validate = (f"import pathlib; from {loader} import load_spec\n"
                "for p in sorted(pathlib.Path('experiments').glob('**/*.yaml')):\n"
                "    load_spec(p, check_data=False)")
    commands = {
        "help": [py, "-m", "marlrec.cli", "--help"],
        "spec_error": [py, "-m", "marlrec.cli", "run", "experiments/quickstart.yaml",
                       "--set", "algorithms=[XYZ]"],
        "validate": [py, "-c", validate],
        "import_spec": [py, "-c", f"import {args.spec_module}"],
    }
    results = {}
    for name, cmd in commands.items():
        results[name] = timed(cmd, args.repo, args.repeats)
        print(f"{name:12s} median {results[name]['median_s']:.3f} s  "
              f"min {results[name]['min_s']:.3f} s", file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.repo,
                            capture_output=True, text=True).stdout.strip()
    print(json.dumps({"repo": str(args.repo), "commit": commit, "repeats": args.repeats,
                      "machine": f"{platform.processor() or platform.machine()}, "
                                 f"{os.cpu_count()} CPUs", **results}))


if __name__ == "__main__":
    main()

"""Do two experiment reports hold the same numbers? For a change that must not move any
result (a restructure): run the same spec at the commit before and after, then

    .venv/bin/python benchmarks/compare_scores.py BEFORE/report/scores.json AFTER/report/scores.json

Compares every number the first ``scores.json`` holds (the aggregates, every run's every
episode metric, the probability-of-improvement matrix, the offline ranking) with the same
key in the second, exactly; keys only the second has (a metric added since) are listed, not
counted as differences. Prints the counts, and as the last line of stdout a JSON object;
exits 1 when a number differs or is missing.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any


def compare(before: Any, after: Any, path: str, out: dict[str, list[str]]) -> int:
    """Numbers compared below ``path``; differences, missing and added keys into ``out``."""
    if isinstance(before, dict):
        if not isinstance(after, dict):
            out["differ"].append(path)
            return 0
        out["added"] += [f"{path}/{k}" for k in after if k not in before]
        n = 0
        for key, value in before.items():
            if key == "provenance":
                continue  # the commit and command differ by construction
            if key not in after:
                out["missing"].append(f"{path}/{key}")
            else:
                n += compare(value, after[key], f"{path}/{key}", out)
        return n
    if isinstance(before, list):
        if not isinstance(after, list) or len(after) != len(before):
            out["differ"].append(path)
            return 0
        return sum(compare(b, a, f"{path}[{i}]", out)
                   for i, (b, a) in enumerate(zip(before, after, strict=True)))
    same = before == after or (isinstance(before, float) and isinstance(after, float)
                               and math.isnan(before) and math.isnan(after))
    if not same:
        out["differ"].append(f"{path}: {before!r} != {after!r}")
    return 1


def main() -> int:
    before, after = (json.loads(Path(p).read_text()) for p in sys.argv[1:3])
    out: dict[str, list[str]] = {"differ": [], "missing": [], "added": []}
    n = compare(before, after, "", out)
    added = sorted({p.rsplit("/", 1)[-1] for p in out["added"]})
    print(f"{n} values compared: {len(out['differ'])} differ, {len(out['missing'])} missing; "
          f"keys only in the second: {added}", file=sys.stderr)
    for line in (out["differ"] + out["missing"])[:20]:
        print("  " + line, file=sys.stderr)
    print(json.dumps({"compared": n, "differ": len(out["differ"]),
                      "missing": len(out["missing"]), "added_keys": added}))
    return 1 if out["differ"] or out["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())

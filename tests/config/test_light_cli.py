"""Parsing and validating a spec, and `marlrec --help`, import neither Ray nor torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]

PROBE = """
import sys
from marlrec.cli import build_parser, main
from marlrec.config.loading import load_spec
for path in sorted(__import__("pathlib").Path("experiments").glob("**/*.yaml")):
    load_spec(path, check_data=False)
try:
    build_parser().parse_args(["--help"])
except SystemExit:
    pass
assert main(["run", "experiments/quickstart.yaml", "--set", "algorithms=[XYZ]"]) == 2
heavy = sorted(m for m in ("ray", "torch", "transformers") if m in sys.modules)
print("HEAVY", heavy)
"""


def test_spec_validation_and_help_load_neither_ray_nor_torch():
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "experiment.algorithms[0]: 'XYZ' is not one of" in out.stderr

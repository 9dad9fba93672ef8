"""What reproduces (docs/environment.md): every scripted rollout gives the same trajectory,
to the bit, on any x86-64 CPU. Checked here against the golden file, in this process and in
fresh processes under OpenBLAS's other kernels and with numpy's SIMD dispatch turned off,
each reporting (threadpoolctl, numpy) which kernel it ran."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from numpy._core import _multiarray_umath

SCRIPT = Path(__file__).parent / "golden" / "trajectories.py"
_spec = importlib.util.spec_from_file_location("golden_trajectories", SCRIPT)
trajectories = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trajectories)
GOLDEN_CASES = json.loads(trajectories.GOLDEN.read_text())["cases"]
REPO = Path(__file__).parents[2]
_FEATURES = _multiarray_umath.__cpu_features__
_DISPATCHED = [f for f in _multiarray_umath.__cpu_dispatch__ if _FEATURES.get(f)]
# OpenBLAS kernels to force (SkylakeX is left out: it crashes on AMD hosts) and whether the
# CPU can run each; "dispatch off" also turns off every numpy SIMD path above its baseline
KERNEL_SETS = {
    "Sandybridge": ({"OPENBLAS_CORETYPE": "Sandybridge"}, _FEATURES.get("AVX", False)),
    "Haswell": ({"OPENBLAS_CORETYPE": "Haswell"}, _FEATURES.get("AVX2", False)),
    "Zen": ({"OPENBLAS_CORETYPE": "Zen"}, _FEATURES.get("AVX2", False)),
    "Sandybridge, numpy dispatch off": (
        {"OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": " ".join(_DISPATCHED)},
        _FEATURES.get("AVX", False)),
}
_REPORT = """
import json, runpy, sys, threadpoolctl
from numpy._core import _multiarray_umath as m
blas = [i["architecture"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
features = sorted(f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f))
cases = runpy.run_path(sys.argv[1])["record_all"]()
print(json.dumps({"blas": blas, "dispatched": features, "cases": cases}))
"""


def test_the_golden_file_holds_every_case():
    assert sorted(GOLDEN_CASES) == sorted(trajectories.CASES)


@pytest.mark.parametrize("case", sorted(trajectories.CASES))
def test_a_scripted_rollout_is_its_golden_trajectory(case, movielens_data):
    assert trajectories.record(case) == GOLDEN_CASES[case]


@pytest.mark.parametrize("kernels", sorted(KERNEL_SETS))
def test_trajectories_do_not_depend_on_the_cpu_kernels(kernels, movielens_data):
    variables, runnable = KERNEL_SETS[kernels]
    if not runnable:
        pytest.skip(f"this CPU cannot run the {kernels} kernels")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    env.update(variables, PYTHONPATH=str(REPO))
    run = subprocess.run([sys.executable, "-c", _REPORT, str(SCRIPT)], cwd=REPO,
                         capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    # the kernel that ran: numpy's OpenBLAS runs Haswell's kernels for Zen (it reports so)
    expected = {"Zen": ["Zen", "Haswell"]}.get(kernels, [variables["OPENBLAS_CORETYPE"]])
    assert len(report["blas"]) == 1 and report["blas"][0] in expected
    if "NPY_DISABLE_CPU_FEATURES" in variables:
        assert report["dispatched"] == []
    for case, expected in GOLDEN_CASES.items():
        assert report["cases"][case] == expected, case

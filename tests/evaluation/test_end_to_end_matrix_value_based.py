"""The end-to-end matrix (``end_to_end_matrix.py``) for the value-based algorithms."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

from end_to_end_matrix import SPLIT, runs_and_reports  # noqa: E402

NAMES = SPLIT[1]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", NAMES)
def test_every_algorithm_and_sharing_mode_runs_and_reports(local_ray, algorithm, tmp_path):
    runs_and_reports(algorithm, tmp_path)

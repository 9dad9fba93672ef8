"""A folder is written all or nothing."""

from __future__ import annotations

import pytest

from marlrec.staged_folder import staged_folder


def test_a_failed_write_leaves_the_old_folder_and_no_staging(tmp_path):
    out = tmp_path / "report"
    with staged_folder(out) as staging:
        (staging / "a.txt").write_text("first")
    with pytest.raises(RuntimeError), staged_folder(out) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("interrupted")
    assert (out / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with staged_folder(out) as staging:
        (staging / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]

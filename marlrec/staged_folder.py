"""Write a folder all or nothing: fill a hidden staging folder beside it, then swap it in.

    with staged_folder(out) as staging:
        (staging / "report.md").write_text(...)

On an exception the staging folder is removed and ``out`` is left as it was; on success
``out`` is replaced (the old one is moved aside first and restored if the swap fails, then
deleted), so a reader never sees a half-written folder. Reports (``marlrec report``) and
fetched data sets (:mod:`marlrec.datasets`) are written this way; one file is written so by
:func:`write_text_atomically`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the folder it becomes is not
    try:
        yield staging
        old = out.with_name(f".{out.name}.old")
        if not out.exists():
            staging.rename(out)
            return
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        try:
            staging.rename(out)
        except OSError:
            old.rename(out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text_atomically(target: str | Path, text: str) -> Path:
    """Writes ``text`` to ``target`` through a temporary file beside it and a rename: a
    reader never sees it half-written, and a failed write leaves no temporary behind."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide the file from other users
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target

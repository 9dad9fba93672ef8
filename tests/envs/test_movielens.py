"""MovieLens-100k loading (envs.movielens) and fetching (marlrec.datasets).

Small synthetic copies of the data are written in both layouts, RecBole's atomic files and
GroupLens' original u.* files, with the real data's quirks (latin-1 titles, "(V)" suffix,
the title-less item 267, multi-word genre names).
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from envs.movielens import (
    GENRES,
    DataFileError,
    MovieLens100k,
    RatingSplit,
    load_movielens_100k,
    movielens_layout,
)
from marlrec import datasets as marlrec_data
from marlrec.datasets import (
    default_data_dir,
    fetch,
    fetch_movielens_100k,
    movielens_dir,
)

FETCH_COMMAND = "marlrec data fetch movielens-100k"

# (item id, GroupLens title, RecBole title, RecBole release_year token, genres), file order.
ITEMS = [
    (50, "Usual Suspects, The (1995)", "Usual Suspects, The", "1995", ("Crime", "Thriller")),
    (1, "Toy Story (1995)", "Toy Story", "1995", ("Animation", "Children's", "Comedy")),
    (543, "Misérables, Les (1995)", "Misérables, Les", "1995", ("Drama", "Musical")),
    (484, "Maltese Falcon, The (1941)", "Maltese Falcon, The", "1941", ("Film-Noir", "Mystery")),
    (267, "unknown", "unknown", "unkonwn", ("unknown",)),
    (
        1412,
        "Land Before Time III: The Time of the Great Giving (1995) (V)",
        "Land Before Time III: The Time of the Great Giving (1995)",
        "V",
        ("Animation", "Children's"),
    ),
    (
        1005,
        "Double vie de Véronique, La (Double Life of Veronique, The) (1991)",
        "Double vie de Véronique, La (Double Life of Veronique, The)",
        "1991",
        ("Drama",),
    ),
]
# (user id, age, gender, occupation, zip code), file order.
USERS = [
    (7, 57, "M", "administrator", "91344"),
    (1, 24, "M", "technician", "85711"),
    (2, 53, "F", "other", "T8H1N"),
]
# (user id, item id, stars, unix seconds), file order.
RATINGS = [
    (7, 50, 5, 891350900),
    (1, 1, 5, 874965758),
    (1, 484, 3, 876893171),
    (2, 1412, 1, 888550871),
    (2, 543, 4, 888551000),
    (7, 267, 2, 891351000),
    (1, 1005, 4, 874965800),
    (2, 50, 5, 888552000),
]


def write_recbole(folder: Path) -> Path:
    """Write the synthetic data as RecBole atomic files (UTF-8, typed headers)."""
    folder.mkdir(parents=True, exist_ok=True)
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    inter += [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in RATINGS]
    item = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for item_id, _, title, year, genres in ITEMS:
        # RecBole lists genres in GroupLens order; one item is shuffled to check sorting.
        tokens = genres[::-1] if item_id == 1 else genres
        item.append(f"{item_id}\t{title}\t{year}\t{' '.join(tokens)}")
    user = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    user += ["\t".join(map(str, row)) for row in USERS]
    for name, lines in (("ml-100k.inter", inter), ("ml-100k.item", item),
                        ("ml-100k.user", user)):
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_grouplens(folder: Path) -> Path:
    """Write the synthetic data as GroupLens' u.data, u.item (latin-1) and u.user."""
    folder.mkdir(parents=True, exist_ok=True)
    data = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in RATINGS]
    item = []
    for item_id, title, _, _, genres in ITEMS:
        flags = "|".join("1" if genre in genres else "0" for genre in GENRES)
        if item_id == 267:
            item.append(f"{item_id}|{title}||||{flags}")
        else:
            url = "http://us.imdb.com/M/title-exact?" + title.replace(" ", "%20")
            item.append(f"{item_id}|{title}|01-Jan-1995||{url}|{flags}")
    user = ["|".join(map(str, row)) for row in USERS]
    (folder / "u.data").write_text("\n".join(data) + "\n", encoding="latin-1")
    (folder / "u.item").write_text("\n".join(item) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("\n".join(user) + "\n", encoding="latin-1")
    return folder


WRITERS = {"recbole": write_recbole, "grouplens": write_grouplens}
FILES = {
    "recbole": {"ratings": "ml-100k.inter", "items": "ml-100k.item", "users": "ml-100k.user"},
    "grouplens": {"ratings": "u.data", "items": "u.item", "users": "u.user"},
}


def replace_line(path: Path, number: int, text: str, encoding: str = "utf-8") -> None:
    """Replace 1-based line ``number`` of ``path`` with ``text``."""
    lines = path.read_text(encoding=encoding).splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding=encoding)


def ratings_line(fmt: str, index: int) -> int:
    """The file line of RATINGS[index] (RecBole files have a header line)."""
    return index + (2 if fmt == "recbole" else 1)


def check_synthetic(data: MovieLens100k) -> None:
    """The loaded synthetic data matches ITEMS, USERS and RATINGS."""
    items = sorted(ITEMS)
    users = sorted(USERS)
    assert data.item_ids.tolist() == [row[0] for row in items]
    assert data.user_ids.tolist() == [row[0] for row in users]
    assert data.titles == [row[2] for row in items]
    assert data.years.tolist() == [int(row[3]) if row[3].isdigit() else 0 for row in items]
    assert data.genres == [row[4] for row in items]
    assert data.user_age.tolist() == [row[1] for row in users]
    assert data.user_gender == [row[2] for row in users]
    assert data.user_occupation == [row[3] for row in users]
    assert data.user_zip == [row[4] for row in users]
    assert data.user_ids[data.rating_user].tolist() == [row[0] for row in RATINGS]
    assert data.item_ids[data.rating_item].tolist() == [row[1] for row in RATINGS]
    assert data.rating_value.tolist() == [row[2] for row in RATINGS]
    assert data.rating_time.tolist() == [row[3] for row in RATINGS]
    assert (data.n_users, data.n_items, data.n_ratings) == (3, 7, 8)
    assert data.rating_user.dtype == data.rating_item.dtype == np.int32
    assert data.rating_value.dtype == np.float32
    assert data.rating_time.dtype == np.int64
    assert data.years.dtype == data.user_age.dtype == np.int32


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
def test_loads_each_format(tmp_path: Path, fmt: str) -> None:
    data = load_movielens_100k(WRITERS[fmt](tmp_path))
    assert data.source_format == fmt
    check_synthetic(data)
    assert data.titles[data.item_ids.tolist().index(543)] == "Misérables, Les"
    with pytest.raises(ValueError, match="read-only"):
        data.rating_value[0] = 1.0


def test_both_formats_give_identical_data(tmp_path: Path) -> None:
    recbole = load_movielens_100k(write_recbole(tmp_path / "recbole"))
    grouplens = load_movielens_100k(write_grouplens(tmp_path / "grouplens"))
    for field in MovieLens100k.__dataclass_fields__:
        a, b = getattr(recbole, field), getattr(grouplens, field)
        if field == "source_format":
            assert (a, b) == ("recbole", "grouplens")
        elif isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, field
            np.testing.assert_array_equal(a, b, err_msg=field)
        else:
            assert a == b, field


def test_recbole_wins_when_both_layouts_are_present(tmp_path: Path) -> None:
    write_grouplens(tmp_path)
    assert movielens_layout(tmp_path) == "grouplens"
    write_recbole(tmp_path)
    assert movielens_layout(tmp_path) == "recbole"
    assert load_movielens_100k(tmp_path).source_format == "recbole"


def test_the_layout_check_reads_no_file_and_says_how_to_fetch(tmp_path: Path) -> None:
    """What spec validation runs: the files' presence, as ``load_movielens_100k`` needs."""
    with pytest.raises(DataFileError, match="folder not found") as error:
        movielens_layout(tmp_path / "nowhere")
    assert FETCH_COMMAND in str(error.value)
    write_recbole(tmp_path)
    (tmp_path / FILES["recbole"]["users"]).unlink()
    with pytest.raises(DataFileError, match="file is missing") as error:
        movielens_layout(tmp_path)
    assert FETCH_COMMAND in str(error.value)


def test_a_rating_split_keeps_its_own_read_only_mask(tmp_path: Path) -> None:
    data = load_movielens_100k(write_recbole(tmp_path))
    mask = np.arange(data.n_ratings) % 2 == 0
    split = RatingSplit(data, mask, 0.5, 3)
    mask[:] = False  # the caller's array changes; the split does not
    assert split.train.tolist() == [True, False] * 4
    assert split.heldout.tolist() == [False, True] * 4 and split.has_heldout
    with pytest.raises(ValueError, match="read-only"):
        split.train[0] = False
    assert not RatingSplit(data, np.ones(data.n_ratings, bool)).has_heldout
    with pytest.raises(ValueError, match=r"training mask has shape \(3,\), expected \(8,\)"):
        RatingSplit(data, np.ones(3, bool))


def test_missing_folder_says_how_to_fetch(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    with pytest.raises(DataFileError, match="folder not found") as error:
        load_movielens_100k(folder)
    assert str(folder) in str(error.value) and FETCH_COMMAND in str(error.value)


def test_folder_without_data_files(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no MovieLens-100k files") as error:
        load_movielens_100k(tmp_path)
    assert FETCH_COMMAND in str(error.value)


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
@pytest.mark.parametrize("kind", ["ratings", "items", "users"])
def test_missing_file(tmp_path: Path, fmt: str, kind: str) -> None:
    WRITERS[fmt](tmp_path)
    missing = tmp_path / FILES[fmt][kind]
    missing.unlink()
    with pytest.raises(DataFileError, match="file is missing") as error:
        load_movielens_100k(tmp_path)
    assert str(missing) in str(error.value) and FETCH_COMMAND in str(error.value)


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
def test_wrong_column_count_names_file_and_line(tmp_path: Path, fmt: str) -> None:
    WRITERS[fmt](tmp_path)
    path = tmp_path / FILES[fmt]["ratings"]
    line = ratings_line(fmt, 2)
    replace_line(path, line, "1\t484\t3")
    with pytest.raises(DataFileError, match="3 columns, expected 4") as error:
        load_movielens_100k(tmp_path)
    assert f"{path}, line {line}:" in str(error.value)


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
def test_non_numeric_id(tmp_path: Path, fmt: str) -> None:
    WRITERS[fmt](tmp_path)
    path = tmp_path / FILES[fmt]["ratings"]
    line = ratings_line(fmt, 3)
    replace_line(path, line, "2\tx12\t1\t888550871")
    with pytest.raises(DataFileError, match="item id 'x12' is not an integer") as error:
        load_movielens_100k(tmp_path)
    assert f"{path}, line {line}:" in str(error.value)


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
@pytest.mark.parametrize("stars", ["6", "0", "nan"])
def test_rating_out_of_range(tmp_path: Path, fmt: str, stars: str) -> None:
    WRITERS[fmt](tmp_path)
    path = tmp_path / FILES[fmt]["ratings"]
    line = ratings_line(fmt, 4)
    replace_line(path, line, f"2\t543\t{stars}\t888551000")
    with pytest.raises(DataFileError, match=r"outside 1\.\.5") as error:
        load_movielens_100k(tmp_path)
    assert f"{path}, line {line}:" in str(error.value)


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
def test_rating_of_unknown_item(tmp_path: Path, fmt: str) -> None:
    WRITERS[fmt](tmp_path)
    path = tmp_path / FILES[fmt]["ratings"]
    line = ratings_line(fmt, 5)
    replace_line(path, line, "7\t9999\t2\t891351000")
    with pytest.raises(DataFileError, match="item id 9999 is not listed in") as error:
        load_movielens_100k(tmp_path)
    message = str(error.value)
    assert f"{path}, line {line}:" in message and str(tmp_path / FILES[fmt]["items"]) in message


def test_fractional_timestamp(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    replace_line(tmp_path / "ml-100k.inter", 3, "1\t1\t5\t874965758.5")
    with pytest.raises(DataFileError, match="line 3: timestamp 8.+ is not whole unix seconds"):
        load_movielens_100k(tmp_path)


def test_rating_of_unknown_user(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    replace_line(tmp_path / "ml-100k.inter", 2, "8\t50\t5\t891350900")
    with pytest.raises(DataFileError, match="line 2: user id 8 is not listed in"):
        load_movielens_100k(tmp_path)


@pytest.mark.parametrize("fmt", ["recbole", "grouplens"])
def test_empty_file(tmp_path: Path, fmt: str) -> None:
    WRITERS[fmt](tmp_path)
    path = tmp_path / FILES[fmt]["users"]
    path.write_text("")
    with pytest.raises(DataFileError, match="empty file") as error:
        load_movielens_100k(tmp_path)
    assert str(path) in str(error.value)


def test_header_only_file_is_empty(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    path = tmp_path / "ml-100k.inter"
    path.write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n")
    with pytest.raises(DataFileError, match="no data rows"):
        load_movielens_100k(tmp_path)


def test_recbole_header_without_needed_column(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    replace_line(tmp_path / "ml-100k.inter", 1, "user_id:token\titem_id:token\tstars:float\tts")
    with pytest.raises(DataFileError, match="line 1: header lacks column.*rating"):
        load_movielens_100k(tmp_path)


def test_repeated_item_id(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    replace_line(tmp_path / "ml-100k.item", 3, "50\tToy Story\t1995\tComedy")
    with pytest.raises(DataFileError, match="ml-100k.item, line 3: item id 50 appears twice"):
        load_movielens_100k(tmp_path)


def test_unknown_recbole_genre(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    replace_line(tmp_path / "ml-100k.item", 5, "484\tMaltese Falcon, The\t1941\tFilm Noir")
    with pytest.raises(DataFileError, match="line 5: unknown genre 'Film'"):
        load_movielens_100k(tmp_path)


def test_bad_grouplens_genre_flag(tmp_path: Path) -> None:
    write_grouplens(tmp_path)
    path = tmp_path / "u.item"
    line = path.read_text(encoding="latin-1").splitlines()[1]
    replace_line(path, 2, line[:-1] + "2", encoding="latin-1")
    with pytest.raises(DataFileError, match="line 2: genre flag Western is '2'"):
        load_movielens_100k(tmp_path)


def test_invalid_utf8_names_its_line(tmp_path: Path) -> None:
    write_recbole(tmp_path)
    path = tmp_path / "ml-100k.item"
    path.write_bytes(path.read_bytes().replace("Misérables".encode(), b"Mis\xe9rables"))
    with pytest.raises(DataFileError, match=r"ml-100k.item, line 4: not valid utf-8"):
        load_movielens_100k(tmp_path)


REAL_DIR = movielens_dir()


@pytest.mark.skipif(
    not REAL_DIR.is_dir(),
    reason=f"MovieLens-100k is not fetched into {REAL_DIR}: run `{FETCH_COMMAND}` "
    "(`make test` does)",
)
def test_real_movielens_100k() -> None:
    data = load_movielens_100k(REAL_DIR)
    assert data.source_format == "recbole"
    assert (data.n_users, data.n_items, data.n_ratings) == (943, 1682, 100_000)
    assert data.user_ids.tolist() == list(range(1, 944))
    assert data.item_ids.tolist() == list(range(1, 1683))
    assert data.titles[266] == "unkonwn"
    assert data.titles[0] == "Toy Story" and data.years[0] == 1995
    assert data.genres[0] == ("Animation", "Children's", "Comedy")
    assert "Usual Suspects, The" in data.titles
    assert sum("Film-Noir" in genres for genres in data.genres) == 24
    assert np.bincount(data.rating_value.astype(int)).tolist() == [
        0, 6110, 11370, 27145, 34174, 21201,
    ]
    assert np.bincount(data.rating_user).min() >= 20  # every user rated at least 20 movies
    assert set(data.user_gender) == {"M", "F"}


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MARLREC_DATA_DIR", str(tmp_path / "mine"))
    assert default_data_dir() == tmp_path / "mine"
    assert movielens_dir() == tmp_path / "mine" / "movielens-100k"
    monkeypatch.delenv("MARLREC_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_data_dir() == tmp_path / "cache" / "marlrec" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == Path.home() / ".cache" / "marlrec" / "data"
    assert movielens_dir(tmp_path) == tmp_path / "movielens-100k"


def test_fetch_unknown_name_lists_known_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'movielens-1m'.*known: movielens-100k"):
        fetch("movielens-1m", tmp_path)


def fake_pip(monkeypatch: pytest.MonkeyPatch, source: Path | None, stderr: str = "") -> list:
    """Make marlrec.datasets's `pip download` write a wheel holding ``source``'s files under
    recbole/dataset_example/ml-100k/ (or fail with ``stderr`` when source is None).
    Returns the list of commands run."""
    commands: list = []

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        commands.append(command)
        if source is None:
            return subprocess.CompletedProcess(command, 1, "", stderr)
        wheel = Path(command[command.index("-d") + 1]) / "recbole-1.2.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("recbole/__init__.py", "")
            archive.writestr("recbole/dataset_example/ml-1m/ml-1m.inter", "not ours")
            for path in source.iterdir():
                archive.write(path, f"recbole/dataset_example/ml-100k/{path.name}")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(marlrec_data.subprocess, "run", run)
    return commands


def test_fetch_unpacks_only_the_movielens_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commands = fake_pip(monkeypatch, write_recbole(tmp_path / "source"))
    data_dir = tmp_path / "data"
    dest = fetch_movielens_100k(data_dir, progress=False)
    assert dest == data_dir / "movielens-100k"
    assert sorted(p.name for p in dest.iterdir()) == [
        "ml-100k.inter", "ml-100k.item", "ml-100k.user",
    ]
    assert list(data_dir.iterdir()) == [dest]  # no temporary folders left
    check_synthetic(load_movielens_100k(dest))
    assert len(commands) == 1
    assert commands[0][1:4] == ["-m", "pip", "download"] and "recbole==1.2.1" in commands[0]
    assert "--no-deps" in commands[0]

    assert fetch("movielens-100k", data_dir) == dest  # already there: pip is not run again
    assert len(commands) == 1
    assert fetch_movielens_100k(data_dir, force=True, progress=False) == dest
    assert len(commands) == 2
    assert list(data_dir.iterdir()) == [dest]


def test_fetch_replaces_an_unusable_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    commands = fake_pip(monkeypatch, write_recbole(tmp_path / "source"))
    dest = movielens_dir(tmp_path / "data")
    write_recbole(dest)
    (dest / "ml-100k.user").unlink()
    assert fetch_movielens_100k(tmp_path / "data", progress=False) == dest
    assert len(commands) == 1
    check_synthetic(load_movielens_100k(dest))


def test_fetch_pip_failure_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_pip(monkeypatch, None, "ERROR: No matching distribution found for recbole==1.2.1")
    with pytest.raises(RuntimeError, match="pip download.*(\n.*)*No matching distribution"):
        fetch_movielens_100k(tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_fetch_of_unloadable_files_keeps_the_old_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source = write_recbole(tmp_path / "source")
    replace_line(source / "ml-100k.inter", 2, "7\t50\t9\t891350900")
    fake_pip(monkeypatch, source)
    dest = write_recbole(movielens_dir(tmp_path / "data"))
    with pytest.raises(RuntimeError, match=r"do not load.*outside 1\.\.5"):
        fetch_movielens_100k(tmp_path / "data", force=True, progress=False)
    assert list((tmp_path / "data").iterdir()) == [dest]
    check_synthetic(load_movielens_100k(dest))


@pytest.mark.slow
def test_fetch_from_pypi(tmp_path: Path) -> None:
    dest = fetch_movielens_100k(tmp_path, progress=False)
    assert dest == tmp_path / "movielens-100k"
    assert list(tmp_path.iterdir()) == [dest]
    data = load_movielens_100k(dest)
    assert (data.n_users, data.n_items, data.n_ratings) == (943, 1682, 100_000)

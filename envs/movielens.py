"""MovieLens-100k: GroupLens' 100,000 star ratings (1-5) by 943 users on 1,682 movies (1997-98).

The data comes in two layouts, both read here into one :class:`MovieLens100k` record:

- RecBole atomic files (what ``marlrec data fetch movielens-100k`` stores, taken from the
  ``recbole`` wheel): ``ml-100k.inter``, ``ml-100k.item``, ``ml-100k.user``; UTF-8,
  tab-separated, with a typed header such as ``user_id:token<TAB>rating:float``. Titles have
  their year moved to a ``release_year`` column; genres are space-separated tokens in
  ``class``.
- GroupLens' original files: ``u.data`` (tab-separated user, item, rating, timestamp),
  ``u.item`` (pipe-separated, latin-1, title with a "(1995)" suffix, dates, IMDb URL, then
  19 genre flags) and ``u.user`` (pipe-separated id, age, gender, occupation, zip code).

RecBole's conversion split the last parenthesised group off each title as the release year
(so "Land Before Time III: ... (1995) (V)" became title "... (1995)" and year "V"); the
GroupLens reader does the same, so both layouts give the same titles and years. Known quirks
of the data itself are kept as stored: item 267 has no title ("unknown" in GroupLens,
"unkonwn" in RecBole), and some movies appear twice under two item ids.

Pure numpy + stdlib; a malformed or missing file raises :class:`DataFileError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATASET = "movielens-100k"
"""The data set's name: its folder under the data folder, what ``marlrec data fetch`` takes,
and the name of its catalog (:mod:`envs.catalogs`). The one place the name is spelled."""

FETCH_HINT = f"run `marlrec data fetch {DATASET}` to download it"

GENRES: tuple[str, ...] = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
"""GroupLens' 19 movie genres, in the order of u.item's genre flags."""

RECBOLE_FILES: tuple[str, str, str] = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
GROUPLENS_FILES: tuple[str, str, str] = ("u.data", "u.item", "u.user")

_GENRE_RANK = {genre: rank for rank, genre in enumerate(GENRES)}
_YEAR = re.compile(r"\d{4}")
_LAST_PARENTHESISED = re.compile(r"^(?P<title>.*?)\s*\((?P<inside>[^()]*)\)\s*$")


def default_data_dir() -> Path:
    """The folder for data sets: ``$MARLREC_DATA_DIR`` if set, else
    ``$XDG_CACHE_HOME/marlrec/data``, else ``~/.cache/marlrec/data``."""
    explicit = os.environ.get("MARLREC_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    cache_dir = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return cache_dir / "marlrec" / "data"


def movielens_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The MovieLens-100k folder: ``<data_dir>/movielens-100k``, data_dir defaulting to
    :func:`default_data_dir`."""
    return Path(data_dir if data_dir is not None else default_data_dir()) / DATASET


class DataFileError(ValueError):
    """A MovieLens folder or file is missing or malformed; the message names the file,
    the line where one is to blame, and what is wrong."""


@dataclass(frozen=True, eq=False)
class MovieLens100k:
    """The MovieLens-100k ratings with their users and movies (items).

    Users and items are addressed by 0-based index into ``user_ids`` / ``item_ids`` (the
    original MovieLens ids, sorted ascending); every per-user or per-item list or array
    follows that order. Arrays are read-only.
    """

    user_ids: np.ndarray
    """(n_users,) int64 original user ids, sorted."""
    item_ids: np.ndarray
    """(n_items,) int64 original movie ids, sorted."""
    rating_user: np.ndarray
    """(n_ratings,) int32 index into ``user_ids`` of the user who rated."""
    rating_item: np.ndarray
    """(n_ratings,) int32 index into ``item_ids`` of the movie rated."""
    rating_value: np.ndarray
    """(n_ratings,) float32 stars, 1..5."""
    rating_time: np.ndarray
    """(n_ratings,) int64 time of the rating, unix seconds."""
    titles: list[str]
    """Per movie, the title without its year, trailing articles kept trailing
    ("Usual Suspects, The")."""
    years: np.ndarray
    """(n_items,) int32 release year from the title, 0 when unknown."""
    genres: list[tuple[str, ...]]
    """Per movie, its genres from :data:`GENRES`, in that order."""
    user_age: np.ndarray
    """(n_users,) int32 age in years."""
    user_gender: list[str]
    """Per user, "M" or "F"."""
    user_occupation: list[str]
    """Per user, e.g. "technician", "student" (21 GroupLens occupations)."""
    user_zip: list[str]
    """Per user, the zip code as stored (some are Canadian postal codes)."""
    source_format: str
    """"recbole" or "grouplens": which layout the files had."""

    @property
    def n_users(self) -> int:
        """Number of users."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of movies."""
        return len(self.item_ids)

    @property
    def n_ratings(self) -> int:
        """Number of ratings."""
        return len(self.rating_value)


@dataclass(frozen=True, eq=False)
class RatingSplit:
    """MovieLens-100k's ratings divided into *training* ratings, the only ones a simulator
    is built from (catalog quality, appeal and prior popularity; user interests and past
    consumption), and *held-out* ratings, which only offline evaluation reads.

    ``holdout`` and ``seed`` say how the split was drawn
    (:func:`envs.movielens.heldout_split`); ``None`` for a mask given as it is.
    """

    data: MovieLens100k
    train: np.ndarray
    """(n_ratings,) bool, read-only: True for a training rating."""
    holdout: float | None = None
    """The share of each user's ratings held out; 0 when every rating trains."""
    seed: int | None = None
    """The seed of the split."""

    def __post_init__(self) -> None:
        train = np.array(self.train, dtype=bool)  # a copy: the caller's mask may change
        if train.shape != (self.data.n_ratings,):
            raise ValueError(f"training mask has shape {train.shape}, expected "
                             f"({self.data.n_ratings},): one entry per rating")
        object.__setattr__(self, "train", _read_only(train))

    @property
    def heldout(self) -> np.ndarray:
        """(n_ratings,) bool: True for a held-out rating."""
        return ~self.train

    @property
    def has_heldout(self) -> bool:
        """Whether any rating is held out (there is something to rank offline)."""
        return not bool(self.train.all())


@dataclass
class _Table:
    """The data rows of one delimited text file, split into string fields."""

    path: Path
    rows: list[list[str]]
    line_numbers: list[int]
    """1-based line number of each row, for error messages."""

    def error(self, message: str, row: int) -> DataFileError:
        """A DataFileError naming this file and the line of data row ``row``."""
        return DataFileError(f"{self.path}, line {self.line_numbers[row]}: {message}")

    def strings(self, col: int) -> list[str]:
        """Column ``col`` as stripped strings."""
        return [row[col].strip() for row in self.rows]

    def numbers(self, col: int, dtype: type[np.int64] | type[np.float64], what: str) -> np.ndarray:
        """Column ``col`` parsed as integers (np.int64) or numbers (np.float64)."""
        values = [row[col] for row in self.rows]
        try:
            return np.array(values, dtype=dtype)
        except (ValueError, OverflowError):
            bad = next(i for i, value in enumerate(values) if not _parses(value, dtype))
            kind = "an integer" if dtype is np.int64 else "a number"
            raise self.error(f"{what} {values[bad]!r} is not {kind}", bad) from None


def _parses(value: str, dtype: type[np.int64] | type[np.float64]) -> bool:
    try:
        np.array([value], dtype=dtype)
    except (ValueError, OverflowError):
        return False
    return True


def _read_table(
    path: Path, sep: str, encoding: str, n_cols: int | None, header: bool
) -> tuple[_Table, list[str]]:
    """Read ``path`` into rows of ``sep``-separated fields, skipping blank lines.

    With ``header`` the first line holds column names (RecBole's "name:type" reduced to
    "name"), returned with the table, and fixes the column count; otherwise every row must
    have ``n_cols`` fields.
    """
    if not path.is_file():
        raise DataFileError(f"{path}: file is missing; {FETCH_HINT}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataFileError(f"{path}: cannot be read ({e.strerror})") from e
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataFileError(f"{path}, line {line}: not valid {encoding} text ({e.reason})") from e
    if not text.strip():
        raise DataFileError(f"{path}: empty file")
    lines = text.replace("\r\n", "\n").split("\n")
    names: list[str] = []
    first = 0
    if header:
        if not lines[0].strip():
            raise DataFileError(f"{path}, line 1: blank, expected the header line")
        names = [field.split(":", 1)[0].strip() for field in lines[0].split(sep)]
        n_cols = len(names)
        first = 1
    table = _Table(path, [], [])
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        fields = line.split(sep)
        if len(fields) != n_cols:
            raise DataFileError(
                f"{path}, line {number}: {len(fields)} columns, expected {n_cols} "
                f"separated by {sep!r}"
            )
        table.rows.append(fields)
        table.line_numbers.append(number)
    if not table.rows:
        raise DataFileError(f"{path}: no data rows")
    return table, names


def _columns(table: _Table, names: list[str], wanted: tuple[str, ...]) -> list[int]:
    """Indices of the ``wanted`` columns of a RecBole header."""
    missing = [name for name in wanted if name not in names]
    if missing:
        raise DataFileError(
            f"{table.path}, line 1: header lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(names)})"
        )
    return [names.index(name) for name in wanted]


@dataclass
class _Users:
    table: _Table
    ids: np.ndarray
    age: np.ndarray
    gender: list[str]
    occupation: list[str]
    zip: list[str]


@dataclass
class _Items:
    table: _Table
    ids: np.ndarray
    titles: list[str]
    years: np.ndarray
    genres: list[tuple[str, ...]]


@dataclass
class _Ratings:
    table: _Table
    user: np.ndarray
    item: np.ndarray
    value: np.ndarray
    time: np.ndarray


def _year(token: str) -> int:
    """A release year token as an int, 0 unless it is four digits."""
    return int(token) if _YEAR.fullmatch(token) else 0


def _users(table: _Table, cols: list[int]) -> _Users:
    c_id, c_age, c_gender, c_occupation, c_zip = cols
    gender = table.strings(c_gender)
    for row, value in enumerate(gender):
        if value not in ("M", "F"):
            raise table.error(f"gender {value!r} is not 'M' or 'F'", row)
    return _Users(
        table=table,
        ids=table.numbers(c_id, np.int64, "user id"),
        age=table.numbers(c_age, np.int64, "age"),
        gender=gender,
        occupation=table.strings(c_occupation),
        zip=table.strings(c_zip),
    )


def _ratings(table: _Table, cols: list[int]) -> _Ratings:
    c_user, c_item, c_value, c_time = cols
    return _Ratings(
        table=table,
        user=table.numbers(c_user, np.int64, "user id"),
        item=table.numbers(c_item, np.int64, "item id"),
        value=table.numbers(c_value, np.float64, "rating"),
        time=table.numbers(c_time, np.float64, "timestamp"),
    )


def _load_recbole(folder: Path) -> MovieLens100k:
    inter_name, item_name, user_name = RECBOLE_FILES
    inter, names = _read_table(folder / inter_name, "\t", "utf-8", None, header=True)
    ratings = _ratings(inter, _columns(inter, names, ("user_id", "item_id", "rating", "timestamp")))

    item, names = _read_table(folder / item_name, "\t", "utf-8", None, header=True)
    c_id, c_title, c_year, c_class = _columns(
        item, names, ("item_id", "movie_title", "release_year", "class")
    )
    genres = []
    for row, tokens in enumerate(item.strings(c_class)):
        unknown = [token for token in tokens.split() if token not in _GENRE_RANK]
        if unknown:
            raise item.error(f"unknown genre {unknown[0]!r} (known: {', '.join(GENRES)})", row)
        genres.append(tuple(sorted(set(tokens.split()), key=_GENRE_RANK.__getitem__)))
    items = _Items(
        table=item,
        ids=item.numbers(c_id, np.int64, "item id"),
        titles=item.strings(c_title),
        years=np.array([_year(token) for token in item.strings(c_year)], dtype=np.int64),
        genres=genres,
    )

    user, names = _read_table(folder / user_name, "\t", "utf-8", None, header=True)
    users = _users(user, _columns(user, names, ("user_id", "age", "gender", "occupation",
                                                "zip_code")))
    return _assemble(users, items, ratings, "recbole")


def _load_grouplens(folder: Path) -> MovieLens100k:
    data_name, item_name, user_name = GROUPLENS_FILES
    data, _ = _read_table(folder / data_name, "\t", "latin-1", 4, header=False)
    ratings = _ratings(data, [0, 1, 2, 3])

    item, _ = _read_table(folder / item_name, "|", "latin-1", 5 + len(GENRES), header=False)
    titles, years = [], []
    for full_title in item.strings(1):
        match = _LAST_PARENTHESISED.match(full_title)
        titles.append(match["title"] if match else full_title)
        years.append(_year(match["inside"].strip()) if match else 0)
    flags = np.array([row[5:] for row in item.rows])
    flags = np.char.strip(flags)
    bad = ~np.isin(flags, ("0", "1"))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        flag = str(flags[row, col])
        raise item.error(f"genre flag {GENRES[col]} is {flag!r}, not 0 or 1", int(row))
    genre_names = np.array(GENRES)
    items = _Items(
        table=item,
        ids=item.numbers(0, np.int64, "item id"),
        titles=titles,
        years=np.array(years, dtype=np.int64),
        genres=[tuple(genre_names[is_set].tolist()) for is_set in flags == "1"],
    )

    user, _ = _read_table(folder / user_name, "|", "latin-1", 5, header=False)
    users = _users(user, [0, 1, 2, 3, 4])
    return _assemble(users, items, ratings, "grouplens")


def _sorted_ids(table: _Table, ids: np.ndarray, what: str) -> np.ndarray:
    """The order that sorts ``ids``, after checking none repeats."""
    order = np.argsort(ids, kind="stable")
    repeated = np.flatnonzero(np.diff(ids[order]) == 0)
    if repeated.size:
        row = int(order[repeated[0] + 1])
        raise table.error(f"{what} {ids[row]} appears twice", row)
    return order


def _index(table: _Table, sorted_ids: np.ndarray, values: np.ndarray, what: str,
           listed_in: Path) -> np.ndarray:
    """0-based positions of ``values`` in ``sorted_ids``; each must be there."""
    pos = np.searchsorted(sorted_ids, values)
    unknown = sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] != values
    if unknown.any():
        row = int(np.argmax(unknown))
        raise table.error(f"{what} {values[row]} is not listed in {listed_in}", row)
    return pos.astype(np.int32)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _assemble(users: _Users, items: _Items, ratings: _Ratings, source_format: str) -> MovieLens100k:
    """Check the three files against each other and order users and items by id."""
    table = ratings.table
    out_of_range = ~((ratings.value >= 1) & (ratings.value <= 5))
    if out_of_range.any():
        row = int(np.argmax(out_of_range))
        raise table.error(f"rating {ratings.value[row]:g} is outside 1..5", row)
    not_seconds = ~(np.isfinite(ratings.time) & (ratings.time == np.round(ratings.time)))
    if not_seconds.any():
        row = int(np.argmax(not_seconds))
        raise table.error(f"timestamp {ratings.time[row]:g} is not whole unix seconds", row)

    user_order = _sorted_ids(users.table, users.ids, "user id")
    item_order = _sorted_ids(items.table, items.ids, "item id")
    user_ids, item_ids = users.ids[user_order], items.ids[item_order]
    return MovieLens100k(
        user_ids=_read_only(user_ids),
        item_ids=_read_only(item_ids),
        rating_user=_read_only(
            _index(table, user_ids, ratings.user, "user id", users.table.path)),
        rating_item=_read_only(
            _index(table, item_ids, ratings.item, "item id", items.table.path)),
        rating_value=_read_only(ratings.value.astype(np.float32)),
        rating_time=_read_only(ratings.time.astype(np.int64)),
        titles=[items.titles[i] for i in item_order],
        years=_read_only(items.years[item_order].astype(np.int32)),
        genres=[items.genres[i] for i in item_order],
        user_age=_read_only(users.age[user_order].astype(np.int32)),
        user_gender=[users.gender[i] for i in user_order],
        user_occupation=[users.occupation[i] for i in user_order],
        user_zip=[users.zip[i] for i in user_order],
        source_format=source_format,
    )


def load_movielens_100k(folder: str | os.PathLike[str]) -> MovieLens100k:
    """Load MovieLens-100k from ``folder``, in RecBole's or GroupLens' layout.

    The layout is told by the file names (:data:`RECBOLE_FILES` or :data:`GROUPLENS_FILES`);
    RecBole's wins when both are there. Raises :class:`DataFileError` when the folder or a
    file is missing, or a file is malformed (wrong column count, non-numeric id, rating
    outside 1..5, a rating of an unlisted user or item, a repeated id, an empty file).
    """
    folder = Path(folder)
    layout = movielens_layout(folder)
    return _load_recbole(folder) if layout == "recbole" else _load_grouplens(folder)


def movielens_layout(folder: str | os.PathLike[str]) -> str:
    """Which layout of MovieLens-100k files ``folder`` holds, ``"recbole"`` or
    ``"grouplens"`` (RecBole's wins when both are there), without reading them.

    Raises :class:`DataFileError`, saying to fetch the data, when the folder, or one file of
    the layout, is missing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"{folder}: MovieLens-100k folder not found; {FETCH_HINT}")
    for names, layout in ((RECBOLE_FILES, "recbole"), (GROUPLENS_FILES, "grouplens")):
        if any((folder / name).exists() for name in names):
            missing = [name for name in names if not (folder / name).is_file()]
            if missing:
                raise DataFileError(
                    f"{folder / missing[0]}: file is missing (a MovieLens-100k folder needs "
                    f"{', '.join(names)}); {FETCH_HINT}"
                )
            return layout
    raise DataFileError(
        f"{folder}: no MovieLens-100k files (expected {', '.join(RECBOLE_FILES)} or "
        f"{', '.join(GROUPLENS_FILES)}); {FETCH_HINT}"
    )


def heldout_split(data: MovieLens100k, holdout: float = 0.2, seed: int = 0,
                  rating_mask: np.ndarray | None = None) -> np.ndarray:
    """Boolean train mask over ``data``'s ratings: per user, a random ``holdout`` share of
    their ratings (rounded to the nearest integer) is held out (False), but at least one
    rating per user stays in train (True).

    ``rating_mask`` restricts the split to those ratings (the others are False in the
    result): :func:`validation_split` uses it to carve a validation set out of train.
    Reproducible: the same ``data``, ``holdout``, ``seed`` and mask give the same split; it
    depends on who rated how many movies, not on the stars or times, so changing held-out
    ratings leaves the split (and a simulator built from it) as it is. ``holdout=0`` holds
    nothing out.
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout={holdout!r} must be in [0, 1)")
    n = len(data.rating_value)
    mask = np.ones(n, bool) if rating_mask is None else np.asarray(rating_mask, bool)
    if mask.shape != (n,):
        raise ValueError(f"rating_mask has shape {mask.shape}, expected ({n},)")
    idx = np.flatnonzero(mask)
    users = data.rating_user[idx]
    keys = np.random.default_rng(seed).random(idx.size)
    order = np.lexsort((keys, users))  # by user, then in random order within the user
    counts = np.bincount(users, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(idx.size, np.int64)
    rank[order] = np.arange(idx.size) - starts[users[order]]
    n_held = np.minimum(np.floor(holdout * counts + 0.5).astype(np.int64),
                        np.maximum(counts - 1, 0))
    train = np.zeros(n, bool)
    train[idx] = rank >= n_held[users]
    return train


def validation_split(data: MovieLens100k, train: np.ndarray, holdout: float = 0.2,
                     seed: int = 0) -> np.ndarray:
    """A sub-train mask: ``train`` minus a validation hold-out carved from it in the same
    way (the validation ratings are ``train & ~result``). Seeded apart from the test split."""
    return heldout_split(data, holdout, seed + 1_000_003, rating_mask=train)

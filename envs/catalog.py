"""Item catalogs: what can be recommended, who owns it, and its hidden quality and appeal.

Every item has a text (what the encoder embeds), a topic, a *quality* (hidden: how much
consuming it satisfies and how long it is watched) and an *appeal* (visible: how much
it attracts a click now). Appeal and quality differ on purpose: a policy that maximises
clicks by appeal loses long-term engagement to one that recommends quality, the lesson of
RecSim's interest-evolution environment (Ie et al., 2019, "RecSim: A Configurable
Simulation Platform for Recommender Systems", arXiv:1909.04847).

Two catalogs:

- :func:`synthetic_catalog`: topic-based items with generated text. As in RecSim, 70% of
  the topics are "clickbait" topics (high appeal, quality means evenly spaced in [-3, 0])
  and 30% "nutritious" (low appeal, quality means in [0, 3]).
- :func:`movielens_catalog`: MovieLens-100k movies (real titles, years, genres). Quality
  is the Bayesian-smoothed mean rating, appeal the popularity (log number of ratings),
  both standardised, from the *training* ratings only (``Catalog.ratings`` records which);
  the held-out ones are left to offline evaluation. Providers are studios derived from
  genre and era buckets (see :func:`movielens_studios`).

Which catalogs an env can be built from, with their parameters and what each offers
(ratings, demographics, profiles): the registry in :mod:`envs.catalogs`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from envs.movielens import DATASET, MovieLens100k, RatingSplit
from envs.numerics import exp, log1p

QUALITY_RANGE = 3.0
"""Quality and appeal are standardised and clipped to [-3, 3]."""


@dataclass(frozen=True, eq=False)
class Catalog:
    """A fixed pool of items. Which of them are live changes during an episode."""

    name: str
    titles: tuple[str, ...]
    texts: tuple[str, ...]
    topic: np.ndarray  # (n,) int32: index into topic_names
    topic_names: tuple[str, ...]
    quality: np.ndarray  # (n,) float32 in [-3, 3]; hidden from the slate policy
    appeal: np.ndarray  # (n,) float32 in [-3, 3]; drives clicks
    prior_popularity: np.ndarray  # (n,) float32 >= 0: interactions before the simulation
    provider: np.ndarray  # (n,) int32: the provider that owns the item at reset
    provider_names: tuple[str, ...]
    features: np.ndarray | None = None
    """(n, d) fixed item vectors (RecSim's one-hot topics) used as they are instead of the
    encoder's text embeddings; ``None`` for text catalogs."""
    genres: tuple[tuple[str, ...], ...] | None = None
    """Per item, all its genres (MovieLens); ``None``: the topic is the only genre."""
    years: np.ndarray | None = None
    """(n,) int32 release years, 0 when unknown; ``None``: no years."""
    ratings: RatingSplit | None = None
    """The real ratings (MovieLens) that quality, appeal and prior popularity were computed
    from, ``ratings.train`` of them; offline evaluation reads the held-out rest from here.
    ``None``: the catalog is not built from ratings."""

    def __post_init__(self) -> None:
        n = len(self.titles)
        sized = ("texts", "topic", "quality", "appeal", "prior_popularity", "provider")
        optional = tuple(f for f in ("features", "genres", "years")
                         if getattr(self, f) is not None)
        for field in sized + optional:
            if len(getattr(self, field)) != n:
                raise ValueError(f"Catalog {self.name!r}: {field} has {len(getattr(self, field))}"
                                 f" entries, titles has {n}")
        if n == 0:
            raise ValueError(f"Catalog {self.name!r} has no items")

    @property
    def num_items(self) -> int:
        return len(self.titles)

    @property
    def num_topics(self) -> int:
        return len(self.topic_names)

    @property
    def num_providers(self) -> int:
        return len(self.provider_names)

    def fingerprint(self) -> str:
        """A digest of the item texts (and fixed features): equal catalogs share cached
        embeddings."""
        digest = hashlib.sha1(self.name.encode())
        for text in self.texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\0")
        if self.features is not None:
            digest.update(np.ascontiguousarray(self.features, np.float32).tobytes())
        return digest.hexdigest()


def _standardise(x: np.ndarray) -> np.ndarray:
    z = (x - x.mean()) / max(float(x.std()), 1e-9)
    return np.clip(z, -QUALITY_RANGE, QUALITY_RANGE).astype(np.float32)


# ----------------------------------------------------------------------------- synthetic

CLICKBAIT_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("celebrity gossip", ("scandal", "red carpet", "feud", "breakup", "paparazzi", "rumour")),
    ("prank videos", ("prank", "hidden camera", "scare", "reaction", "roommate", "fake")),
    ("reality tv", ("drama", "villa", "elimination", "confession", "rose", "islanders")),
    ("viral challenges", ("challenge", "dare", "trend", "dance", "ice bucket", "spicy")),
    ("listicles", ("top ten", "ranking", "you won't believe", "number seven", "facts", "list")),
    ("unboxing", ("unboxing", "haul", "mystery box", "gadget", "giveaway", "package")),
    ("conspiracy theories", ("cover-up", "secret", "aliens", "hoax", "exposed", "truth")),
    ("fail compilations", ("fail", "crash", "oops", "blooper", "wipeout", "epic")),
    ("luxury lifestyle", ("supercar", "mansion", "yacht", "billionaire", "designer", "watch")),
    ("miracle diets", ("detox", "fat burning", "miracle", "cleanse", "shortcut", "diet pill")),
    ("gaming drama", ("streamer", "rage", "toxic", "banned", "callout", "clip")),
    ("influencer vlogs", ("vlog", "morning routine", "what i eat", "storytime", "haul", "day")),
    ("clickbait news", ("shocking", "outrage", "breaking", "slams", "destroys", "viral")),
    ("get rich quick", ("crypto", "passive income", "hustle", "millionaire", "secret trick",
                        "side hustle")),
)
NUTRITIOUS_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("science documentaries", ("physics", "biology", "experiment", "discovery", "universe",
                               "evolution")),
    ("history lectures", ("empire", "revolution", "archive", "ancient", "war", "civilisation")),
    ("cooking tutorials", ("recipe", "knife skills", "bread", "sauce", "seasonal", "technique")),
    ("language lessons", ("grammar", "vocabulary", "pronunciation", "conversation", "spanish",
                          "japanese")),
    ("classical music", ("symphony", "concerto", "orchestra", "bach", "piano", "sonata")),
    ("investigative journalism", ("investigation", "sources", "accountability", "report",
                                  "evidence", "interview")),
)
_CLICKBAIT_STYLE = ("Shocking", "You won't believe this", "Insane", "Must watch", "Exposed")
_CALM_STYLE = ("An in-depth look at", "A careful guide to", "Understanding", "Notes on",
               "A long conversation about")


def synthetic_topics(num_topics: int) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
    """``num_topics`` topics ``(name, keywords, is_clickbait)``, 70% of them clickbait."""
    num_clickbait = int(round(0.7 * num_topics))
    num_nutritious = num_topics - num_clickbait
    picked = []
    for i in range(num_clickbait):
        name, words = CLICKBAIT_TOPICS[i % len(CLICKBAIT_TOPICS)]
        suffix = f" {i // len(CLICKBAIT_TOPICS) + 1}" if i >= len(CLICKBAIT_TOPICS) else ""
        picked.append((name + suffix, words, True))
    for i in range(num_nutritious):
        name, words = NUTRITIOUS_TOPICS[i % len(NUTRITIOUS_TOPICS)]
        suffix = f" {i // len(NUTRITIOUS_TOPICS) + 1}" if i >= len(NUTRITIOUS_TOPICS) else ""
        picked.append((name + suffix, words, False))
    return tuple(picked)


def synthetic_catalog(
    num_items: int = 500, num_topics: int = 20, num_providers: int = 10, seed: int = 0
) -> Catalog:
    """Topic-based items with generated text (RecSim-like quality structure).

    Topic quality means are evenly spaced in [-3, 0] for clickbait topics and [0, 3] for
    nutritious ones; an item's quality is its topic mean plus N(0, 0.3). Appeal is high for
    clickbait (mean +1) and low for nutritious topics (mean -1), plus N(0, 0.5), then
    standardised. Provider ``p`` has home topic ``p mod num_topics`` and owns 80% of its
    items in its home topics; the rest are spread at random.
    """
    for field, value, low in (("num_items", num_items, 2), ("num_topics", num_topics, 2),
                              ("num_providers", num_providers, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"synthetic catalog: {field}={value!r} must be an integer >= {low}")
    rng = np.random.default_rng(seed)
    topics = synthetic_topics(num_topics)
    clickbait = np.array([t[2] for t in topics])
    quality_mean = np.empty(num_topics)
    num_cb = int(clickbait.sum())
    quality_mean[clickbait] = np.linspace(-3.0, 0.0, num_cb) if num_cb > 1 else -1.5
    quality_mean[~clickbait] = (np.linspace(0.0, 3.0, num_topics - num_cb)
                                if num_topics - num_cb > 1 else 1.5)
    topic = rng.integers(0, num_topics, num_items).astype(np.int32)
    quality = np.clip(quality_mean[topic] + rng.normal(0, 0.3, num_items), -3, 3)
    appeal = _standardise(np.where(clickbait[topic], 1.0, -1.0) + rng.normal(0, 0.5, num_items))

    home_topic = np.arange(num_providers) % num_topics
    provider = rng.integers(0, num_providers, num_items).astype(np.int32)
    for i in range(num_items):
        homes = np.flatnonzero(home_topic == topic[i])
        if homes.size and rng.random() < 0.8:
            provider[i] = rng.choice(homes)

    titles, texts = [], []
    for i in range(num_items):
        name, words, is_cb = topics[topic[i]]
        style = (_CLICKBAIT_STYLE if is_cb else _CALM_STYLE)[rng.integers(5)]
        w1, w2 = rng.choice(len(words), 2, replace=False)
        title = f"{style} {words[w1]} and {words[w2]}"
        titles.append(title)
        texts.append(f"{title}. A {name} video.")
    popularity = exp(appeal + rng.normal(0, 0.5, num_items)).astype(np.float32)
    return Catalog(
        name=f"synthetic-{num_items}x{num_topics}-seed{seed}",
        titles=tuple(titles),
        texts=tuple(texts),
        topic=topic,
        topic_names=tuple(t[0] for t in topics),
        quality=quality.astype(np.float32),
        appeal=appeal,
        prior_popularity=popularity,
        provider=provider,
        provider_names=tuple(f"creator {p} ({topics[home_topic[p]][0]})"
                             for p in range(num_providers)),
    )


# ----------------------------------------------------------------------------- MovieLens

QUALITY_PRIOR_RATINGS = 10
"""Bayesian smoothing of mean ratings: ``m`` pseudo-ratings at the global mean."""

ERAS = ((0, 1979, "classic"), (1980, 1989, "1980s"), (1990, 9999, "1990s"))


def movielens_studios(data: MovieLens100k, num_providers: int) -> tuple[np.ndarray, list[str]]:
    """Studios (providers) for MovieLens movies, derived reproducibly from the data.

    A movie's bucket is (primary genre = its first listed genre, era of its release year:
    classic before 1980, 1980s, 1990s; unknown years count as classic). Buckets are sorted
    by size (descending, ties by name); the ``num_providers - 1`` largest become studios of
    their own and all smaller buckets merge into one "independent studios" provider.
    """
    if not isinstance(num_providers, int) or num_providers < 2:
        raise ValueError(f"movielens catalog: num_providers={num_providers!r} must be an "
                         "integer >= 2")
    keys = []
    for genres, year in zip(data.genres, data.years, strict=True):
        era = next(name for lo, hi, name in ERAS if lo <= int(year) <= hi)
        keys.append(f"{genres[0] if genres else 'unknown'} / {era}")
    names, counts = np.unique(np.array(keys), return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    own = [str(names[i]) for i in order[: num_providers - 1]]
    index = {name: p for p, name in enumerate(own)}
    studio = np.array([index.get(k, len(own)) for k in keys], dtype=np.int32)
    return studio, [f"studio: {name}" for name in own] + ["independent studios"]


def movielens_quality(data: MovieLens100k, rating_mask: np.ndarray | None = None) -> np.ndarray:
    """Bayesian-smoothed mean rating per movie (``QUALITY_PRIOR_RATINGS`` pseudo-ratings)."""
    mask = np.ones(len(data.rating_value), bool) if rating_mask is None else rating_mask
    n_items = len(data.item_ids)
    counts = np.bincount(data.rating_item[mask], minlength=n_items)
    sums = np.bincount(data.rating_item[mask], weights=data.rating_value[mask],
                       minlength=n_items)
    global_mean = data.rating_value[mask].mean()
    m = QUALITY_PRIOR_RATINGS
    return (sums + m * global_mean) / (counts + m)


def movielens_catalog(data: MovieLens100k, num_providers: int = 20,
                      rating_mask: np.ndarray | RatingSplit | None = None) -> Catalog:
    """MovieLens-100k movies as a catalog.

    - text: ``"<title> (<year>). Genres: <g1>, <g2>."``
    - topic: the primary (first listed) genre
    - quality: Bayesian-smoothed mean rating, standardised and clipped to [-3, 3]
    - appeal: log(1 + number of ratings), standardised: popular titles attract clicks
    - provider: studio buckets of :func:`movielens_studios`

    ``rating_mask`` selects the ratings that quality, appeal and prior popularity are
    computed from (a training split): a bool mask over ``data``'s ratings or a
    :class:`envs.movielens.RatingSplit` of ``data``; all ratings by default. It is recorded
    as ``Catalog.ratings``. Titles, texts, topics and studios do not depend on ratings (nor
    does the catalog's name, so equal texts share cached embeddings).
    """
    genre_names = sorted({g for genres in data.genres for g in genres} | {"unknown"})
    topic = np.array([genre_names.index(g[0]) if g else genre_names.index("unknown")
                      for g in data.genres], dtype=np.int32)
    if isinstance(rating_mask, RatingSplit):
        if rating_mask.data is not data:
            raise ValueError("movielens_catalog: rating_mask is a split of other ratings than "
                             "data")
        ratings = rating_mask
    else:
        ratings = RatingSplit(data, np.ones(data.n_ratings, bool) if rating_mask is None
                              else rating_mask, 0.0 if rating_mask is None else None)
    mask = ratings.train
    counts = np.bincount(data.rating_item[mask], minlength=len(data.item_ids)).astype(np.float32)
    studio, studio_names = movielens_studios(data, num_providers)
    texts = []
    for title, year, genres in zip(data.titles, data.years, data.genres, strict=True):
        when = f" ({int(year)})" if year else ""
        texts.append(f"{title}{when}. Genres: {', '.join(genres) or 'unknown'}.")
    return Catalog(
        name=DATASET,
        titles=tuple(data.titles),
        texts=tuple(texts),
        topic=topic,
        topic_names=tuple(genre_names),
        quality=_standardise(movielens_quality(data, mask)),
        appeal=_standardise(log1p(counts)),
        prior_popularity=counts,
        provider=studio,
        provider_names=tuple(studio_names),
        genres=tuple(tuple(g) for g in data.genres),
        years=np.asarray(data.years, np.int32),
        ratings=ratings,
    )

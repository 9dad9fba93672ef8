"""Item attributes from several modalities, for the slate policy's observation.

The text embedding (the candidate's item vector) says what an item is about; the
attributes say what a catalog knows besides its text. With ``item_attributes=True`` the
slate policy's observation gains ``candidate_attributes`` ``(C, A)`` in [0, 1], built by
:class:`ItemFeatureBuilder`, and marlrec's candidate-scoring actor fuses them with the
embedding, the engagement features and the user state in its per-candidate scorer.

- ``genre:<name>`` (categorical): multi-hot over the catalog's genres (MovieLens: all of
  a movie's genres; synthetic: its topic);
- ``year`` (numeric): release year scaled to [0, 1] over the catalog's known years, 0 when
  unknown; ``year_unknown``: 1 when the year is unknown (or the catalog has none);
- ``popularity`` (numeric): ``log(1 + prior interactions) / log(1 + max)``;
- ``provider:<name>`` (categorical): one-hot of the item's current owner (releases change
  owners).

Images are out of scope: no image data set can be had on this machine (no downloads at run
time); a poster embedding would be one more block of columns here.
"""

from __future__ import annotations

import numpy as np

from envs.catalog import Catalog
from envs.numerics import log1p


class ItemFeatureBuilder:
    """Builds ``candidate_attributes`` for a catalog (see the module docstring)."""

    def __init__(self, catalog: Catalog) -> None:
        genres = catalog.genres or tuple((catalog.topic_names[t],) for t in catalog.topic)
        genre_names = sorted({g for item in genres for g in item})
        column = {g: i for i, g in enumerate(genre_names)}
        n = catalog.num_items
        multi_hot = np.zeros((n, len(genre_names)), np.float32)
        for i, item in enumerate(genres):
            multi_hot[i, [column[g] for g in item]] = 1.0
        years = (np.zeros(n, np.int32) if catalog.years is None
                 else np.asarray(catalog.years, np.int32))
        known = years > 0
        year = np.zeros(n, np.float32)
        if known.any():
            low, high = years[known].min(), years[known].max()
            year[known] = (years[known] - low) / max(1, high - low)
        prior = np.asarray(catalog.prior_popularity, np.float64)
        popularity = (log1p(prior) / max(float(log1p(prior.max())), 1e-9)).astype(np.float32)
        self.static = np.column_stack([multi_hot, year, (~known).astype(np.float32),
                                       popularity]).astype(np.float32)
        self.num_providers = catalog.num_providers
        self.names = (tuple(f"genre:{g}" for g in genre_names)
                      + ("year", "year_unknown", "popularity")
                      + tuple(f"provider:{p}" for p in catalog.provider_names))

    @property
    def size(self) -> int:
        """Number of attribute columns ``A``."""
        return len(self.names)

    def build(self, items: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """Attributes ``(*items.shape, A)`` of catalog indices ``items``; ``owner`` ``(n,)``
        is each item's current provider."""
        out = np.zeros((*items.shape, self.size), np.float32)
        k = self.static.shape[1]
        out[..., :k] = self.static[items]
        np.put_along_axis(out, (k + owner[items])[..., None], 1.0, axis=-1)
        return out

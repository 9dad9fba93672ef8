"""Session intents: what a user says they want tonight, in words.

With the env's ``intent`` set to ``"hidden"`` or ``"on"``, every session draws an intent
when it starts, reproducibly from the env's seeded generator:

- a **topic** ``t`` among the catalog's topics that have items (MovieLens: genres), with
  probability ``softmax(INTENT_SHARPNESS * <interest, c_t>)``, ``c_t`` the unit mean item
  vector of the topic: users mostly ask for what they like, sometimes for something else;
- a **mood** from :data:`MOODS`, uniformly;
- its **text**: ``"Something <mood> for tonight: <topic>."``.

The intent shifts what the user engages with in that session: the session's interest
becomes ``unit((1 - w) * interest + w * c_t)`` with ``w = user_model.intent_weight``; the
choice model, watch time and interest drift all use it. With ``"on"`` the slate policy also
observes the encoded intent text (observation key ``intent``, centred and re-normalised
like the item vectors); with ``"hidden"`` it does not, which is the comparison that says
what intent conditioning buys: the users, intents and candidates are the same in both.

The intent texts are the few combinations of topic and mood, encoded once per (encoder,
catalog) like the item texts.
"""

from __future__ import annotations

import numpy as np

from envs.catalog import Catalog
from envs.numerics import exp, matmul

INTENT_MODES = ("off", "hidden", "on")
INTENT_SHARPNESS = 4.0
MOODS = ("light and funny", "thrilling", "thoughtful", "relaxing", "moving", "surprising")


def intent_text(topic: str, mood: str) -> str:
    return f"Something {mood} for tonight: {topic}."


class IntentVocabulary:
    """The intents a catalog offers: their topics' centroids and their texts, one per
    (topic with items, mood); text ``i`` is topic ``i // len(MOODS)``'s, mood
    ``i % len(MOODS)``."""

    def __init__(self, catalog: Catalog, centroids: np.ndarray) -> None:
        self.topics = np.flatnonzero(np.linalg.norm(centroids, axis=1) > 0)
        self.centroids = centroids[self.topics]
        self.texts = tuple(intent_text(catalog.topic_names[t], mood)
                           for t in self.topics for mood in MOODS)

    def draw(self, interest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Intent (text index) of each of the ``(k, d)`` interests."""
        logits = INTENT_SHARPNESS * matmul(interest, self.centroids.T)
        logits -= logits.max(axis=1, keepdims=True)
        p = exp(logits)
        cumulative = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        u = rng.random((interest.shape[0], 1))
        topic = np.minimum((cumulative < u).sum(axis=1), len(self.topics) - 1)
        mood = rng.integers(0, len(MOODS), interest.shape[0])
        return topic * len(MOODS) + mood

    def centroid_of(self, intent: np.ndarray) -> np.ndarray:
        """The topic centroids ``(k, d)`` of intents (text indices)."""
        return self.centroids[intent // len(MOODS)]

"""Most-interacted items first: the baseline every other model must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommender.artifacts import Arrays
from recommender.base import Recommender
from recommender.data import Interactions, ItemCatalog, row_items
from recommender.vocab import Vocabulary


def popular_reason(listeners: int) -> str:
    """Why a popular item: the reason every model gives when popularity is all it has."""
    return f"popular: {listeners} listener{'s' if listeners != 1 else ''} liked it"


class Popularity(Recommender):
    """Scores an item by how many distinct users interacted positively with it."""

    kind = "pop"

    def __init__(self) -> None:
        self._items = Vocabulary([])
        self._users = Vocabulary([])
        self._counts = np.zeros(0)
        self._seen = sp.csr_matrix((0, 0))

    def fit(self, interactions: Interactions, catalog: ItemCatalog | None = None) -> Self:
        positive = interactions.subset(interactions.weights > 0)
        self._users = positive.user_vocab
        self._items = positive.item_vocab
        matrix = positive.matrix(self._users, self._items)
        self._seen = (matrix > 0).astype(np.float32).tocsr()
        self._counts = np.asarray(self._seen.sum(axis=0)).ravel().astype(np.float64)
        return self

    @classmethod
    def from_counts(cls, items: Vocabulary, counts: npt.ArrayLike) -> Self:
        """A fitted model from listener counts kept elsewhere (the bot keeps them up to date
        from new feedback instead of refitting on every row): `counts[i]` distinct members
        liked `items[i]`. It knows no members, so it has nothing to exclude as seen."""
        model = cls()
        model._items = items
        model._counts = np.asarray(counts, dtype=np.float64)
        if len(model._counts) != len(items):
            raise ValueError(f"{len(model._counts)} counts for {len(items)} items")
        model._seen = sp.csr_matrix((0, len(items)), dtype=np.float32)
        return model

    @property
    def item_vocab(self) -> Vocabulary:
        return self._items

    def score_users(self, users: Sequence[str]) -> npt.NDArray[np.float64]:
        return np.tile(self._counts, (len(users), 1))

    def seen_items(self, user: str) -> npt.NDArray[np.int64]:
        return row_items(self._seen, self._users.index(user))

    def reason(self, user: str, item_index: int) -> str:
        return popular_reason(int(self._counts[item_index]))

    def state(self) -> tuple[dict[str, Any], Arrays]:
        return {}, {
            "items": self._items.ids,
            "users": self._users.ids,
            "counts": self._counts,
            "seen_indptr": self._seen.indptr,
            "seen_indices": self._seen.indices,
        }

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Arrays) -> Self:
        model = cls()
        model._items = Vocabulary(arrays["items"])
        model._users = Vocabulary(arrays["users"])
        model._counts = arrays["counts"]
        indices = arrays["seen_indices"]
        model._seen = sp.csr_matrix(
            (np.ones(len(indices), dtype=np.float32), indices, arrays["seen_indptr"]),
            shape=(len(model._users), len(model._items)),
        )
        return model

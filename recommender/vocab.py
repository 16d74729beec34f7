"""External ids (Spotify track ids, Discord user ids) to dense indices and back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

# Up to this many ids are looked up one by one in the dict; more, in bulk through pandas.
DICT_LOOKUP_UP_TO = 256


class Vocabulary:
    """An immutable, ordered set of string ids. Unknown ids map to -1, never raise."""

    __slots__ = ("_ids", "_index", "_lookup")

    def __init__(self, ids: Iterable[str]) -> None:
        unique = list(dict.fromkeys(str(i) for i in ids))
        self._ids = np.array(unique, dtype=np.str_) if unique else np.array([], dtype="<U1")
        self._index = {identifier: position for position, identifier in enumerate(unique)}
        self._lookup: pd.Index | None = None  # built on the first bulk lookup

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, identifier: object) -> bool:
        return identifier in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and list(self._ids) == list(other._ids)

    def __hash__(self) -> int:
        return hash(tuple(self._ids))

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} ids)"

    @property
    def ids(self) -> npt.NDArray[np.str_]:
        return self._ids

    def index(self, identifier: str) -> int:
        """The dense index of `identifier`, or -1 when unknown."""
        return self._index.get(identifier, -1)

    def indices(self, identifiers: Iterable[str]) -> npt.NDArray[np.int64]:
        """Dense indices of `identifiers` (-1 for unknown ones), looked up in bulk: a
        refresh maps every feedback row's ids, and a Python loop over them was most of it."""
        if not isinstance(identifiers, np.ndarray):
            identifiers = list(identifiers)
        if len(identifiers) <= DICT_LOOKUP_UP_TO:
            # A member's own rows: the dict, without pandas' fixed cost per call (most of
            # what mapping one member's ids cost when their state is built).
            index = self._index
            return np.fromiter(
                (index.get(str(key), -1) for key in identifiers),
                dtype=np.int64,
                count=len(identifiers),
            )
        keys = np.asarray(identifiers)
        if keys.dtype.kind != "U":
            keys = keys.astype(str)
        if self._lookup is None:
            self._lookup = pd.Index(self._ids, dtype=object)
        return self._lookup.get_indexer(keys.astype(object)).astype(np.int64, copy=False)

    def id_of(self, index: int) -> str:
        return str(self._ids[index])

    def ids_of(self, indices: Sequence[int] | npt.NDArray[np.integer]) -> list[str]:
        return [str(identifier) for identifier in self._ids[np.asarray(indices, dtype=np.int64)]]

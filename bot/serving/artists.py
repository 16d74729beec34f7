"""Finding an artist by what someone typed: the catalog's artists in memory, for `/artist`'s
autocomplete (every keystroke, so no database and no scan when a prefix will do) and for
`earworm artists NAME`."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recommender.artists import artist_key

if TYPE_CHECKING:
    from recommender.style import StyleSimilarity

MAX_CHOICES = 25
# Longer input is no artist anyone typed: cut it rather than search for it.
MAX_TYPED = 100
# How alike a misspelt name must be to be suggested (difflib's ratio).
CLOSE_ENOUGH = 0.75


@dataclass(frozen=True)
class ArtistDirectory:
    """The catalog's main artists: folded names (sorted), display names and how many
    tracks each has (the better-known first among equal matches)."""

    keys: Sequence[str]
    names: Sequence[str]
    tracks: npt.NDArray[np.int64]

    def __post_init__(self) -> None:
        if list(self.keys) != sorted(self.keys):
            raise ValueError("artist keys must be sorted")

    @classmethod
    def of(cls, style: StyleSimilarity) -> ArtistDirectory:
        """The artists of a style index (its keys are sorted folded names)."""
        return cls(style.artist_keys, style.artist_names, np.asarray(style.artist_tracks))

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, typed: str) -> int | None:
        """The artist whose name is `typed` (case and spaces aside), or None."""
        key = artist_key(typed[:MAX_TYPED])
        position = bisect.bisect_left(self.keys, key)
        if key and position < len(self.keys) and self.keys[position] == key:
            return position
        return None

    def matches(self, typed: str, limit: int = MAX_CHOICES) -> list[int]:
        """Artists whose name starts with what was typed, then those containing it; each
        group with the most tracks first. Nothing typed: the artists with most tracks."""
        key = artist_key(typed[:MAX_TYPED])
        if not key:
            order = np.lexsort((np.arange(len(self.keys)), -self.tracks))
            return [int(i) for i in order[:limit]]
        start = bisect.bisect_left(self.keys, key)
        end = bisect.bisect_left(self.keys, key + "\U0010ffff")
        starting = self._ranked(range(start, end))
        if len(starting) >= limit:
            return starting[:limit]
        containing = [
            index
            for index, name in enumerate(self.keys)
            if key in name and not start <= index < end
        ]
        return (starting + self._ranked(containing))[:limit]

    def close(self, typed: str, limit: int = 3) -> list[int]:
        """Suggestions for a name that matches no artist: `matches`, else names spelled
        nearly alike (among those starting with the same letter: quick at any size)."""
        found = self.matches(typed, limit)
        key = artist_key(typed[:MAX_TYPED])
        if found or not key:
            return found
        start = bisect.bisect_left(self.keys, key[0])
        end = bisect.bisect_left(self.keys, key[0] + "\U0010ffff")
        names = list(self.keys[start:end])
        near = difflib.get_close_matches(key, names, n=limit, cutoff=CLOSE_ENOUGH)
        return [start + names.index(name) for name in near]

    def _ranked(self, indices: Sequence[int] | range) -> list[int]:
        return sorted(indices, key=lambda index: (-int(self.tracks[index]), index))

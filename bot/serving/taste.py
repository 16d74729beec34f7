"""How alike two members' tastes are (backs /taste). Pure Python: counts in, numbers out.

The score is a weighted mean of two cosine similarities, each in [0, 1] because counts are
never negative:

    score = 100 % × (GENRE_WEIGHT · cos(genres_a, genres_b)
                     + ARTIST_WEIGHT · cos(artists_a, artists_b))

where `genres_x` maps each genre to how many of member x's liked tracks carry it (likewise
for artists), and cos(u, v) = Σ u_k·v_k / (‖u‖·‖v‖). Cosine compares the *shape* of two
tastes, not their size: a member with 5 likes and one with 500 in the same proportions score
100 %. Genres weigh more than artists because two members who love the same styles feel
alike even without a single artist in common; sharing artists on top of that lifts the score.
When one side's genre vector is empty (tracks without genres), only the artists count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

GENRE_WEIGHT = 0.6
ARTIST_WEIGHT = 0.4


class Taste(Protocol):
    """What a comparison needs of a member's taste (storage's MemberTaste has it)."""

    @property
    def genres(self) -> Mapping[str, int]: ...

    @property
    def artists(self) -> Mapping[str, int]: ...

    @property
    def liked_tracks(self) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class TasteMatch:
    score: float  # 0-100
    shared_genres: tuple[str, ...]  # most shared first
    shared_artists: tuple[str, ...]
    shared_tracks: int


def cosine(first: Mapping[str, float], second: Mapping[str, float]) -> float:
    """Cosine similarity of two sparse non-negative vectors; 0 when either is empty or zero."""
    if len(first) > len(second):
        first, second = second, first
    dot = math.fsum(value * second.get(key, 0.0) for key, value in first.items())
    norms = math.sqrt(math.fsum(v * v for v in first.values())) * math.sqrt(
        math.fsum(v * v for v in second.values())
    )
    if norms == 0.0:
        return 0.0
    # Rounding can push identical vectors a hair above 1.
    return min(1.0, dot / norms)


def shared(first: Mapping[str, int], second: Mapping[str, int], count: int) -> tuple[str, ...]:
    """Names both like, the ones they like most together (smaller of the two counts) first,
    ties by name."""
    common = first.keys() & second.keys()
    ranked = sorted(common, key=lambda name: (-min(first[name], second[name]), name))
    return tuple(ranked[:count])


def similarity(first: Taste, second: Taste) -> float:
    """The score in the module docstring, 0-100."""
    artists = cosine(first.artists, second.artists)
    if not first.genres or not second.genres:
        return 100.0 * artists
    genres = cosine(first.genres, second.genres)
    return 100.0 * (GENRE_WEIGHT * genres + ARTIST_WEIGHT * artists)


def compare(first: Taste, second: Taste, *, top: int = 5) -> TasteMatch:
    return TasteMatch(
        score=similarity(first, second),
        shared_genres=shared(first.genres, second.genres, top),
        shared_artists=shared(first.artists, second.artists, top),
        shared_tracks=len(first.liked_tracks & second.liked_tracks),
    )

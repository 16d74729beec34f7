"""One member's serving state, built on demand from their own rows and kept in a bounded
cache (EARWORM_MEMBER_CACHE, least recently used out first).

What a member's picks need beyond the shared, item-side models: their feedback and plays as
interactions, ALS folded in on them (recommender.als.ALS.with_users: the exact user step),
and their content profile (recommender.content.ContentSimilarity.with_member: bounded, so
100,000 plays cost what 20 likes do). Building it reads the member's rows only; another
member's reaction never touches it. Their own feedback drops it (`MemberCache.drop`), and a
model swap makes it stale (`serving_version`): either way it is built again on their next
request.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.serving.active_models import CONTENT_PROFILE_ROWS, recent_rows

if TYPE_CHECKING:
    from recommender.base import Recommender
    from recommender.data import Interactions
    from recommender.hybrid import Hybrid, MemberRows


@dataclass(frozen=True)
class MemberState:
    user_id: int
    serving_version: int
    interactions: Interactions  # their feedback and plays, weighted
    components: dict[str, Recommender]  # member-side models: folded ALS, content profile
    rows: MemberRows  # who they are, what they saw and liked, over the serving items
    tracks: frozenset[str]  # every track they gave feedback on or played
    built_at: float  # time.monotonic() on the event loop


def member_components(
    base: Hybrid,
    interactions: Interactions,
    content: Any | None,
    played: frozenset[str] = frozenset(),
) -> dict[str, Recommender]:
    """The member-side models for `interactions` (one member); `played`, the tracks they
    only listened to, which reasons name as played. CPU work: call in a thread."""
    from recommender.als import ALS
    from recommender.artists import ArtistRelations

    if len(interactions) == 0:
        return {}
    found: dict[str, Recommender] = {}
    als = base.components.get("als")
    if isinstance(als, ALS):
        found["als"] = als.with_users(interactions, played=played)
    if content is not None and "content" in base.components:
        recent = recent_rows(interactions, CONTENT_PROFILE_ROWS)
        found["content"] = content.with_member(recent, played=played)
    artists = base.components.get("artists")
    if isinstance(artists, ArtistRelations):
        found["artists"] = artists.with_users(interactions, played=played)
    return found


def member_interactions(
    user_id: int,
    tracks: list[str],
    weights: list[float],
    times: list[float],
    plays: Interactions | None = None,
) -> Interactions:
    """One member's weighted feedback, with their plays after it when they have any."""
    from recommender.data import Interactions

    member = str(user_id)
    feedback = Interactions(
        users=np.full(len(tracks), member),
        items=np.asarray(tracks, dtype=np.str_),
        weights=np.asarray(weights, dtype=np.float64),
        timestamps=np.asarray(times, dtype=np.int64),
    )
    if plays is None or len(plays) == 0:
        return feedback
    return Interactions(
        users=np.concatenate([feedback.users, plays.users]).astype(np.str_),
        items=np.concatenate([feedback.items, plays.items]).astype(np.str_),
        weights=np.concatenate([feedback.weights, plays.weights]),
        timestamps=np.concatenate([feedback.timestamps, plays.timestamps]),
    )


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    dropped: int = 0  # by the member's own feedback


@dataclass
class MemberCache:
    """Member states, most recently used last; at most `size` of them."""

    size: int
    _states: OrderedDict[int, MemberState] = field(default_factory=OrderedDict)
    stats: CacheStats = field(default_factory=CacheStats)

    def get(self, user_id: int, serving_version: int) -> MemberState | None:
        state = self._states.get(user_id)
        if state is None or state.serving_version != serving_version:
            self.stats.misses += 1
            return None
        self._states.move_to_end(user_id)
        self.stats.hits += 1
        return state

    def peek(self, user_id: int) -> MemberState | None:
        """The cached state, fresh or not, without counting a use."""
        return self._states.get(user_id)

    def put(self, state: MemberState) -> None:
        self._states[state.user_id] = state
        self._states.move_to_end(state.user_id)
        while len(self._states) > self.size:
            self._states.popitem(last=False)
            self.stats.evictions += 1

    def drop(self, user_id: int) -> None:
        if self._states.pop(user_id, None) is not None:
            self.stats.dropped += 1

    def clear(self) -> None:
        self._states.clear()

    def recent(self, count: int) -> list[int]:
        """The `count` most recently used members, most recent first."""
        return list(reversed(self._states))[:count]

    def __len__(self) -> int:
        return len(self._states)

    def to_json(self) -> dict[str, int]:
        return {
            "size": self.size,
            "members": len(self._states),
            "hits": self.stats.hits,
            "misses": self.stats.misses,
            "evictions": self.stats.evictions,
            "dropped": self.stats.dropped,
        }

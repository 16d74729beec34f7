"""What everyone's feedback adds up to, kept member by member: how many members like each
track (the hybrid's popularity, "popular: N listeners liked it") and the trending charts.

Each member's share is remembered: the tracks they like on balance (their summed weight on
the track is positive, as recommender.popularity counts them) and their rows inside the
trending window. When a member's feedback changes, their own rows are read again (an indexed
read) and only the difference is applied, so a reaction costs in proportion to that
member's feedback, never to everyone's. Start-up reads every row once, column-wise.

Updates run in worker threads; a lock keeps readers (a popularity snapshot, a chart) from
seeing a member half-applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recommender.feedback import feedback_weight

if TYPE_CHECKING:
    from recommender.data import ItemCatalog
    from recommender.popularity import Popularity
    from recommender.trending import ChartEntry, TrendingTally
    from storage.repositories.snapshots import FeedbackRows

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
TRENDING_HALF_LIFE_DAYS = 7.0
# How far back the trending window reaches (recommender.trending: 8 half-lives).
WINDOW_SECONDS = 8 * TRENDING_HALF_LIFE_DAYS * 86_400


@dataclass(frozen=True)
class Rows:
    """Feedback rows as arrays: members, catalog positions (-1 outside the catalog),
    servers ("" in DMs), weights and Unix times."""

    users: IntArray
    items: IntArray
    servers: npt.NDArray[np.str_]
    weights: FloatArray
    times: FloatArray

    @classmethod
    def of(cls, rows: FeedbackRows, catalog: ItemCatalog) -> Rows:
        return cls(
            users=np.asarray(rows.users, dtype=np.int64),
            items=catalog.vocab.indices(list(rows.tracks)).astype(np.int64),
            servers=np.asarray(
                ["" if guild is None else str(guild) for guild in rows.guilds], dtype=np.str_
            ),
            weights=np.asarray(
                [feedback_weight(k, v) for k, v in zip(rows.kinds, rows.values, strict=True)],
                dtype=np.float64,
            ),
            times=np.asarray([moment.timestamp() for moment in rows.created_at], dtype=float),
        )

    def __len__(self) -> int:
        return len(self.users)

    def take(self, keep: npt.NDArray[np.bool_] | IntArray) -> Rows:
        return Rows(
            self.users[keep], self.items[keep], self.servers[keep], self.weights[keep],
            self.times[keep],
        )  # fmt: skip


def liked_on_balance(items: IntArray, weights: FloatArray) -> IntArray:
    """The catalog positions whose summed weight is positive (one member's rows)."""
    known = items >= 0
    if not known.any():
        return np.empty(0, dtype=np.int64)
    unique, inverse = np.unique(items[known], return_inverse=True)
    sums = np.bincount(inverse, weights=weights[known])
    return unique[sums > 0]


class Crowd:
    """Listener counts and the trending tally over one catalog, updated member by member."""

    def __init__(self, catalog: ItemCatalog, tally: TrendingTally) -> None:
        self.catalog = catalog
        self.counts = np.zeros(len(catalog), dtype=np.float64)
        self.tally = tally
        self.version = 0  # moves on with every change: readers know when to look again
        self._liked: dict[int, IntArray] = {}
        self._window: dict[int, Rows] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_rows(cls, rows: Rows, catalog: ItemCatalog, now: float | None = None) -> Crowd:
        """Every member's share at once (start-up, a new catalog): one pass, vectorised."""
        from recommender.trending import TrendingTally

        crowd = cls(catalog, TrendingTally(TRENDING_HALF_LIFE_DAYS, catalog=catalog))
        if not len(rows):
            return crowd
        order = np.argsort(rows.users, kind="stable")
        users = rows.users[order]
        starts = np.r_[0, np.flatnonzero(users[1:] != users[:-1]) + 1, len(users)]
        oldest = (time.time() if now is None else now) - WINDOW_SECONDS
        for start, stop in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
            member = rows.take(order[start:stop])
            user = int(member.users[0])
            liked = liked_on_balance(member.items, member.weights)
            if len(liked):
                crowd._liked[user] = liked
                crowd.counts[liked] += 1
            recent = member.take(member.times >= oldest)
            if len(recent):
                crowd._window[user] = recent
        window = [crowd._window[user] for user in crowd._window]
        if window:
            crowd.tally.add(*_tally_columns(_concat(window), catalog))
        return crowd

    def replace_members(self, users: Sequence[int], rows: Rows) -> None:
        """`users`' feedback is now `rows` (all of theirs, possibly none): apply the
        difference to the counts and the tally."""
        oldest = time.time() - WINDOW_SECONDS
        by_user = {user: rows.take(rows.users == user) for user in set(users)}
        with self._lock:
            for user, member in by_user.items():
                old = self._liked.pop(user, None)
                if old is not None:
                    self.counts[old] -= 1
                liked = liked_on_balance(member.items, member.weights)
                if len(liked):
                    self._liked[user] = liked
                    self.counts[liked] += 1
                before = self._window.pop(user, None)
                if before is not None:
                    self.tally.remove(*_tally_columns(before, self.catalog))
                recent = member.take(member.times >= oldest)
                if len(recent):
                    self._window[user] = recent
                    self.tally.add(*_tally_columns(recent, self.catalog))
            self.version += 1

    def popularity(self) -> Popularity:
        """A popularity component from the counts as they are now."""
        from recommender.popularity import Popularity

        with self._lock:
            return Popularity.from_counts(self.catalog.vocab, self.counts.copy())

    def chart(self, k: int, guild: str | None, genre: str | None) -> list[ChartEntry]:
        """The trending tally's chart now (recommender.trending.FeedbackTrending.top)."""
        with self._lock:
            return self.tally.top(k, guild=guild, genre=genre, now=time.time())


def _concat(parts: Sequence[Rows]) -> Rows:
    return Rows(
        np.concatenate([part.users for part in parts]),
        np.concatenate([part.items for part in parts]),
        np.concatenate([part.servers for part in parts]),
        np.concatenate([part.weights for part in parts]),
        np.concatenate([part.times for part in parts]),
    )


def _tally_columns(
    rows: Rows, catalog: ItemCatalog
) -> tuple[list[str], list[str], list[str], FloatArray, FloatArray]:
    """The tally's columns: member and track ids as strings (as the charts name them)."""
    known = rows.items >= 0
    rows = rows.take(known)
    return (
        [str(user) for user in rows.users.tolist()],
        catalog.ids[rows.items].tolist(),
        rows.servers.tolist(),
        rows.weights,
        rows.times,
    )

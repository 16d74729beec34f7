"""What everyone's feedback adds up to: how many members like each track (the hybrid's
popularity, "popular: N listeners liked it") and the trending charts, kept up to date from
new rows only.

- **From the feedback writer** (`apply`): every committed transaction hands over the rows it
  added and removed (storage.repositories.changes). A positive row moves one member's count
  of positive rows on one track (a track counts a member as a listener while they have one,
  as recommender.popularity counts them), and each row is added to or taken back from the
  trending tally: O(rows changed).
- **Read again** (`replace_member`): a member whose feedback changed elsewhere (a command
  line import, a test) is read again and replaces what was known of them: O(their rows).
- **Start-up** (`starting`, `load`, `finish`): every row once, in chunks of arrays.

Weights are taken in tenths (every feedback weight is a whole number of tenths), so the
trending tally is given exactly the weights a fit would see. Updates run in worker threads;
a lock keeps readers from seeing a change half-applied.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from recommender.feedback import FEEDBACK_WEIGHTS, RATING_WEIGHTS, feedback_weight

if TYPE_CHECKING:
    from recommender.data import ItemCatalog
    from recommender.popularity import Popularity
    from recommender.trending import ChartEntry, TrendingTally
    from storage.repositories.changes import FeedbackChange
    from storage.repositories.snapshots import FeedbackChunk, FeedbackRows

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
TRENDING_HALF_LIFE_DAYS = 7.0
# How far back the trending window reaches (recommender.trending: 8 half-lives).
WINDOW_SECONDS = 8 * TRENDING_HALF_LIFE_DAYS * 86_400
SHIFT = 32  # a (member code, track) pair packed into one integer
TENTHS = 10


def tenths(kind: str, value: int | None) -> int:
    return round(feedback_weight(kind, value) * TENTHS)


# Every valid (kind, value) a stored row can hold, and its weight in tenths.
_TENTHS = {(kind, None): tenths(kind, None) for kind in FEEDBACK_WEIGHTS} | {
    ("rating", stars): tenths("rating", stars) for stars in RATING_WEIGHTS
}


def tenths_of(kinds: Sequence[str], values: Sequence[int | None]) -> IntArray:
    """`tenths` of each row, through one dict in a C loop; a row no dict entry covers
    (a like stored with a value, say) is worked out as `tenths` would, or refused so."""
    pairs = zip(kinds, values, strict=True)
    try:
        return np.fromiter(map(_TENTHS.__getitem__, pairs), dtype=np.int64, count=len(kinds))
    except KeyError:
        return np.fromiter(
            (tenths(k, v) for k, v in zip(kinds, values, strict=True)),
            dtype=np.int64,
            count=len(kinds),
        )


class Crowd:
    """Listener counts and the trending tally over one catalog."""

    def __init__(self, catalog: ItemCatalog, tally: TrendingTally) -> None:
        self.catalog = catalog
        self.tally = tally
        self.counts = np.zeros(len(catalog), dtype=np.int64)
        self.version = 0  # moves on with every change: readers know when to look again
        self._codes: dict[int, int] = {}  # member id -> code
        # Positive rows per (member, track): as read at start-up, sorted by pair, and what
        # changed since, per member (it takes precedence).
        self._base_pairs = np.empty(0, dtype=np.int64)
        self._base_sums = np.empty(0, dtype=np.int32)
        self._changed: dict[int, dict[int, int]] = {}
        # Start-up chunks (`load`): pairs, and whether each row is positive.
        self._loading: list[tuple[IntArray, npt.NDArray[np.bool_]]] = []
        self._now = 0.0  # the start-up's time, and the trending window's start then
        self._oldest = 0.0
        # Start-up chunks' rows inside the trending window (users, tracks, servers,
        # weights, times): the tally takes them together.
        self._recent: list[tuple[list[str], list[str], list[str], FloatArray, FloatArray]] = []
        self._lock = threading.Lock()

    # --- start-up -------------------------------------------------------------------------

    @classmethod
    def starting(cls, catalog: ItemCatalog, now: float | None = None) -> Crowd:
        """An empty crowd to `load` every feedback row into, chunk by chunk, then `finish`."""
        from recommender.trending import TrendingTally

        crowd = cls(catalog, TrendingTally(TRENDING_HALF_LIFE_DAYS, catalog=catalog))
        crowd._now = time.time() if now is None else now
        crowd._oldest = crowd._now - WINDOW_SECONDS
        return crowd

    def load(self, rows: FeedbackChunk) -> None:
        """One chunk of start-up rows (in id order); CPU work: call in a thread. Array work
        throughout: start-up goes through every feedback row ever given."""
        items = self.catalog.vocab.indices(rows.tracks).astype(np.int64)
        codes = self._codes_of(rows.users)
        weights = tenths_of(rows.kinds, rows.values)
        known = items >= 0
        self._loading.append(((codes[known] << SHIFT) | items[known], weights[known] > 0))
        times = rows.timestamps
        recent = np.flatnonzero(known & (times >= self._oldest))
        if len(recent):  # into the trending tally all at once, in `finish`
            self._recent.append(
                (
                    [str(user) for user in rows.users[recent].tolist()],
                    [rows.tracks[i] for i in recent],
                    ["" if rows.guilds[i] is None else str(rows.guilds[i]) for i in recent],
                    weights[recent] / TENTHS,
                    times[recent],
                )
            )

    def finish(self) -> None:
        """After the last chunk: every pair's positive rows, the listener counts, and the
        trending tally of the window's rows, standing at the start-up's time."""
        recent, self._recent = self._recent, []
        self.tally.load(
            [user for part in recent for user in part[0]],
            [track for part in recent for track in part[1]],
            [guild for part in recent for guild in part[2]],
            np.concatenate([part[3] for part in recent]) if recent else [],
            np.concatenate([part[4] for part in recent]) if recent else [],
            now=self._now,
        )
        if self._loading:
            pairs = np.concatenate([part[0] for part in self._loading])
            positive = np.concatenate([part[1] for part in self._loading])
            every, inverse = np.unique(pairs, return_inverse=True)
            summed = np.bincount(inverse, weights=positive).round().astype(np.int32)
            self._base_pairs, self._base_sums = every, summed
            liked = every[summed > 0] & ((1 << SHIFT) - 1)
            self.counts = np.bincount(liked, minlength=len(self.catalog)).astype(np.int64)
        self._loading = []

    def _code(self, user: int) -> int:
        code = self._codes.get(user)
        if code is None:
            code = self._codes[user] = len(self._codes)
        return code

    def _codes_of(self, users: IntArray) -> IntArray:
        """Each row's member code, new members numbered in the order they first appear (as
        `_code` row by row would): one dict lookup per member, not per row."""
        members, first, inverse = np.unique(users, return_index=True, return_inverse=True)
        codes = np.empty(len(members), dtype=np.int64)
        for position in np.argsort(first).tolist():
            codes[position] = self._code(int(members[position]))
        return codes[inverse.reshape(-1)]

    # --- changes ----------------------------------------------------------------------------

    def apply(self, changes: Sequence[FeedbackChange]) -> None:
        """Rows a committed transaction added or removed: O(rows)."""
        vocab = self.catalog.vocab
        with self._lock:
            for change in changes:
                item = vocab.index(change.track_id)
                if item < 0:
                    continue
                weight = tenths(change.kind, change.value)
                if weight > 0:
                    code = self._code(change.user_id)
                    old = self._sum(code, item)
                    new = old + (1 if change.added else -1)
                    self._changed.setdefault(code, {})[item] = new
                    self.counts[item] += int(new > 0) - int(old > 0)
                row = (
                    str(change.user_id),
                    change.track_id,
                    "" if change.guild_id is None else str(change.guild_id),
                    weight / TENTHS,
                    change.created_at.timestamp(),
                )
                if change.added:
                    self.tally.add_row(*row)
                else:
                    self.tally.remove_row(*row)
            self.version += 1

    def replace_member(self, user: int, rows: FeedbackRows) -> None:
        """`rows` are all of `user`'s feedback now (possibly none): what was known of them
        is replaced. O(their rows)."""
        items = self.catalog.vocab.indices(list(rows.tracks)).astype(np.int64)
        weights = tenths_of(rows.kinds, rows.values)
        known = items >= 0
        fresh: dict[int, int] = {}  # positive rows per track
        for item, weight in zip(items[known].tolist(), weights[known].tolist(), strict=True):
            if weight > 0:
                fresh[item] = fresh.get(item, 0) + 1
        oldest = time.time() - WINDOW_SECONDS
        with self._lock:
            code = self._code(user)
            before = self._member_sums(code)
            for item in before.keys() | fresh.keys():
                old, new = before.get(item, 0), fresh.get(item, 0)
                self.counts[item] += int(new > 0) - int(old > 0)
            self._changed[code] = {**dict.fromkeys(before, 0), **fresh}
            self.tally.remove_member(str(user))
            recent = [
                i
                for i in np.flatnonzero(known).tolist()
                if rows.created_at[i].timestamp() >= oldest
            ]
            if recent:
                self.tally.add(
                    [str(user)] * len(recent),
                    [rows.tracks[i] for i in recent],
                    ["" if rows.guilds[i] is None else str(rows.guilds[i]) for i in recent],
                    weights[recent] / TENTHS,
                    [rows.created_at[i].timestamp() for i in recent],
                )
            self.version += 1

    def _sum(self, code: int, item: int) -> int:
        changed = self._changed.get(code)
        if changed is not None and item in changed:
            return changed[item]
        pair = (code << SHIFT) | item
        at = int(np.searchsorted(self._base_pairs, pair))
        if at < len(self._base_pairs) and self._base_pairs[at] == pair:
            return int(self._base_sums[at])
        return 0

    def _member_sums(self, code: int) -> dict[int, int]:
        start, stop = np.searchsorted(self._base_pairs, [code << SHIFT, (code + 1) << SHIFT])
        found = dict(
            zip(
                (self._base_pairs[start:stop] & ((1 << SHIFT) - 1)).tolist(),
                self._base_sums[start:stop].tolist(),
                strict=True,
            )
        )
        found.update(self._changed.get(code, {}))
        return found

    # --- reading ----------------------------------------------------------------------------

    def popularity(self) -> Popularity:
        """A popularity component from the counts as they are now."""
        from recommender.popularity import Popularity

        with self._lock:
            counts = self.counts.astype(np.float64)
        return Popularity.from_counts(self.catalog.vocab, counts)

    def chart(self, k: int, guild: str | None, genre: str | None) -> list[ChartEntry]:
        """The trending tally's chart now (as recommender.trending.FeedbackTrending.top)."""
        return self.tally.top(k, guild=guild, genre=genre, now=time.time())

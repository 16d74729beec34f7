"""Train/test splits for offline evaluation: leave-one-out, per-user holdout and a time cutoff.

Splits work on distinct (user, item) pairs, not rows: every row of a held-out pair leaves
train, so a repeated play of the test item can never leak into training. Only pairs whose
total weight is positive can be held out (a disliked track is not a hit to find); the
others stay in train. A user is tested only with at least `min_interactions` positive
pairs, and holdout always leaves one in train; untested users still train the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from recommender.data import Interactions

Order = Literal["random", "latest"]
ORDERS: tuple[Order, ...] = ("random", "latest")
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    """Train rows, and the held-out pairs: one test row per (user, item), weights summed."""

    train: Interactions
    test: Interactions


@dataclass(frozen=True)
class _Pairs:
    """The distinct (user, item) pairs of an interaction table and which rows make them."""

    user: IntArray  # index into user_ids
    item: IntArray  # index into item_ids
    weight: npt.NDArray[np.float64]
    time: IntArray
    row_pair: IntArray  # for every row, the pair it belongs to
    user_ids: npt.NDArray[np.str_]
    item_ids: npt.NDArray[np.str_]


def _pairs(interactions: Interactions) -> _Pairs:
    user_ids, row_user = np.unique(interactions.users, return_inverse=True)
    item_ids, row_item = np.unique(interactions.items, return_inverse=True)
    codes = row_user.astype(np.int64) * len(item_ids) + row_item
    pair_codes, row_pair = np.unique(codes, return_inverse=True)
    weight = np.bincount(row_pair, weights=interactions.weights, minlength=len(pair_codes))
    time = np.full(len(pair_codes), np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(time, row_pair, interactions.timestamps)
    return _Pairs(
        user=pair_codes // len(item_ids),
        item=pair_codes % len(item_ids),
        weight=weight,
        time=time,
        row_pair=row_pair.astype(np.int64),
        user_ids=user_ids,
        item_ids=item_ids,
    )


def _split(
    interactions: Interactions,
    held_per_user: IntArray,
    pairs: _Pairs,
    *,
    seed: int,
    order: Order,
) -> Split:
    """Hold out the first `held_per_user[u]` positive pairs of each user, in `order`."""
    positive = pairs.weight > 0
    noise = np.random.default_rng(seed).random(len(pairs.user))
    # Primary key last: user, then positive pairs first, then newest (latest) or shuffled.
    keys = [noise] if order == "random" else [noise, -pairs.time]
    ranked = np.lexsort((*keys, ~positive, pairs.user))
    sorted_users = pairs.user[ranked]
    group_start = np.searchsorted(sorted_users, sorted_users, side="left")
    position = np.empty(len(ranked), dtype=np.int64)
    position[ranked] = np.arange(len(ranked)) - group_start
    held_pair = positive & (position < held_per_user[pairs.user])

    train = interactions.subset(~held_pair[pairs.row_pair])
    test = Interactions(
        users=pairs.user_ids[pairs.user[held_pair]],
        items=pairs.item_ids[pairs.item[held_pair]],
        weights=pairs.weight[held_pair],
        timestamps=pairs.time[held_pair],
    )
    return Split(train=train, test=test)


def _positive_counts(pairs: _Pairs) -> IntArray:
    return np.bincount(pairs.user[pairs.weight > 0], minlength=len(pairs.user_ids))


def _check(interactions: Interactions, order: Order, min_interactions: int) -> None:
    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if min_interactions < 1:
        raise ValueError(f"min_interactions must be at least 1, got {min_interactions}")
    if len(interactions) == 0:
        raise ValueError("there are no interactions to split")
    if order == "latest" and np.all(interactions.timestamps == interactions.timestamps[0]):
        raise ValueError(
            "order 'latest' needs timestamps, but every interaction has the same time; "
            "use order 'random'"
        )


def leave_one_out(
    interactions: Interactions,
    *,
    seed: int = 0,
    order: Order = "random",
    min_interactions: int = 2,
) -> Split:
    """Hold out one positive pair per user with at least `min_interactions` of them:
    a random one (seeded), or the latest by timestamp (ties broken by the seed).

    With `min_interactions=1`, users with a single pair are tested with nothing in train
    (cold start); the default of 2 keeps at least one pair in every tested user's train."""
    _check(interactions, order, min_interactions)
    pairs = _pairs(interactions)
    held = (_positive_counts(pairs) >= min_interactions).astype(np.int64)
    return _split(interactions, held, pairs, seed=seed, order=order)


def holdout(
    interactions: Interactions,
    fraction: float,
    *,
    seed: int = 0,
    order: Order = "random",
    min_interactions: int = 2,
) -> Split:
    """Hold out `fraction` of each user's positive pairs (rounded half up, at least one and
    at most all but one) for users with at least max(2, `min_interactions`) of them."""
    if not 0 < fraction < 1:
        raise ValueError(f"the holdout fraction must be between 0 and 1, got {fraction}")
    _check(interactions, order, min_interactions)
    pairs = _pairs(interactions)
    counts = _positive_counts(pairs)
    held = np.clip(np.floor(fraction * counts + 0.5).astype(np.int64), 1, counts - 1)
    held[counts < max(2, min_interactions)] = 0
    return _split(interactions, held, pairs, seed=seed, order=order)


def sample_negatives(split: Split, per_user: int, *, seed: int = 0) -> Interactions:
    """For the sampled-candidates protocol: `per_user` items for each test user, drawn
    uniformly (seeded) from the items of the split that user never interacted with."""
    if per_user < 1:
        raise ValueError(f"the number of sampled negatives must be at least 1, got {per_user}")
    everything = Interactions(
        users=np.concatenate([split.train.users, split.test.users]),
        items=np.concatenate([split.train.items, split.test.items]),
        weights=np.concatenate([split.train.weights, split.test.weights]),
        timestamps=np.concatenate([split.train.timestamps, split.test.timestamps]),
    )
    pairs = _pairs(everything)
    rng = np.random.default_rng(seed)
    all_items = np.arange(len(pairs.item_ids))
    starts = np.searchsorted(pairs.user, np.arange(len(pairs.user_ids) + 1))
    user_index = {user: index for index, user in enumerate(pairs.user_ids.tolist())}
    users: list[npt.NDArray[np.str_]] = []
    items: list[npt.NDArray[np.str_]] = []
    for user in np.unique(split.test.users).tolist():
        index = user_index[user]
        pool = np.setdiff1d(all_items, pairs.item[starts[index] : starts[index + 1]])
        chosen = rng.choice(pool, size=min(per_user, len(pool)), replace=False)
        users.append(np.full(len(chosen), user, dtype=pairs.user_ids.dtype))
        items.append(pairs.item_ids[np.sort(chosen)])
    if not users:
        return Interactions.from_rows([], [])
    return Interactions.from_rows(np.concatenate(users).tolist(), np.concatenate(items).tolist())


Scheme = Literal["leave-one-out", "holdout"]
SCHEMES: tuple[Scheme, ...] = ("leave-one-out", "holdout")


@dataclass(frozen=True)
class SplitProtocol:
    """How to split a dataset for each seed, and whether to sample candidates."""

    scheme: Scheme = "leave-one-out"
    order: Order = "random"
    fraction: float = 0.2  # holdout only
    min_interactions: int = 2
    sampled_negatives: int | None = None  # None: rank every item

    def split(self, interactions: Interactions, seed: int) -> Split:
        """The split for `seed`; ValueError when no user qualifies for testing."""
        if self.scheme == "leave-one-out":
            split = leave_one_out(
                interactions, seed=seed, order=self.order, min_interactions=self.min_interactions
            )
        elif self.scheme == "holdout":
            split = holdout(
                interactions,
                self.fraction,
                seed=seed,
                order=self.order,
                min_interactions=self.min_interactions,
            )
        else:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        if len(split.test) == 0:
            raise ValueError(
                f"no user has {self.min_interactions} or more positive interactions to hold "
                "one out; nothing to test"
            )
        return split

    def negatives(self, split: Split, seed: int) -> Interactions | None:
        if self.sampled_negatives is None:
            return None
        return sample_negatives(split, self.sampled_negatives, seed=seed)


def newer_than(interactions: Interactions, newer: npt.NDArray[np.bool_]) -> Split:
    """A time-based split: rows flagged `newer` are held out, the rest train.

    The test pairs are the (user, item) pairs whose newer rows sum to a positive weight,
    of users who also have older rows (a model has something to go on for them) and that
    the user did not already have in train (no leak: a re-like is not a discovery). Every
    newer row leaves train, including those of pairs that are not tested."""
    newer = np.asarray(newer, dtype=bool)
    if newer.shape != (len(interactions),):
        raise ValueError("`newer` must flag every interaction")
    train = interactions.subset(~newer)
    recent = interactions.subset(newer)
    if len(recent) == 0 or len(train) == 0:
        return Split(train=train, test=recent.subset(np.zeros(len(recent), dtype=bool)))
    pairs = _pairs(recent)
    known_users = np.isin(pairs.user_ids[pairs.user], np.unique(train.users))
    seen = np.char.add(np.char.add(train.users, "\x00"), train.items)
    pair_keys = np.char.add(
        np.char.add(pairs.user_ids[pairs.user], "\x00"), pairs.item_ids[pairs.item]
    )
    tested = (pairs.weight > 0) & known_users & ~np.isin(pair_keys, seen)
    test = Interactions(
        users=pairs.user_ids[pairs.user[tested]],
        items=pairs.item_ids[pairs.item[tested]],
        weights=pairs.weight[tested],
        timestamps=pairs.time[tested],
    )
    return Split(train=train, test=test)

"""Plays as implicit feedback: how much a member's listening to a track says about their taste.

The input is what storage aggregates per (member, track): `plays` heard (30 s or more, or
of unknown length, such as a Last.fm scrobble) and `skips` (plays under 30 s that were
skipped). The weight:

    positive = min(PLAY_CAP, PLAY_SCALE * log1p(plays))       # 1 play 0.17, 5 plays 0.45,
                                                                # 20 plays 0.76, 24+ plays 0.8
    negative = max(SKIP_FLOOR, -SKIP_SCALE * log1p(skips))     # 1 skip -0.07, 20+ skips -0.3
    weight   = positive + negative

- A heard play counts; each repeat adds less than the one before (log1p), because the tenth
  listen says less than the second.
- A quick skip is a weak negative, weaker than a ⏭️ on a card (-0.3, recommender.feedback),
  with the same floor: a song skipped on shuffle may just not fit the moment.
- Capped so that explicit feedback always outweighs listening: a like (+1) beats any number
  of plays (at most +0.8), and a dislike (-1.5) plus the most plays is still negative.
  Models add a pair's weights together (Interactions.matrix sums them).

A track heard often and skipped now and then stays positive (20 plays, 3 skips: 0.76 - 0.14);
one mostly skipped turns negative (1 play, 10 skips: 0.17 - 0.24). Pairs whose weight is 0
(neither heard nor skipped) carry no signal and are left out of the interactions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from recommender.data import FloatArray, Interactions

PLAY_THRESHOLD_MS = 30_000  # what storage counts as heard (storage.repositories.plays)
PLAY_SCALE = 0.25
PLAY_CAP = 0.8
SKIP_SCALE = 0.1
SKIP_FLOOR = -0.3


def play_weights(plays: npt.ArrayLike, skips: npt.ArrayLike) -> FloatArray:
    """The weight of each (member, track) pair from its heard plays and skips (the module
    docstring); arrays of the same length, counts never negative."""
    heard = np.asarray(plays, dtype=np.float64)
    skipped = np.asarray(skips, dtype=np.float64)
    if heard.shape != skipped.shape:
        raise ValueError("plays and skips must have the same length")
    if heard.size and (heard.min() < 0 or skipped.min() < 0):
        raise ValueError("play and skip counts cannot be negative")
    positive = np.minimum(PLAY_CAP, PLAY_SCALE * np.log1p(heard))
    negative = np.maximum(SKIP_FLOOR, -SKIP_SCALE * np.log1p(skipped))
    return positive + negative


def play_interactions(
    users: Sequence[object] | npt.ArrayLike,
    items: Sequence[object] | npt.ArrayLike,
    plays: npt.ArrayLike,
    skips: npt.ArrayLike,
    last_played: npt.ArrayLike,
) -> Interactions:
    """Play aggregates as weighted interactions (time: the last play, Unix seconds); pairs
    of weight 0 are left out."""
    weights = play_weights(plays, skips)
    user_ids = np.asarray(users).astype(np.str_)
    item_ids = np.asarray(items).astype(np.str_)
    times = np.asarray(last_played, dtype=np.int64)
    if not len(user_ids) == len(item_ids) == len(weights) == len(times):
        raise ValueError("users, items, plays, skips and last_played must have the same length")
    keep = weights != 0
    return Interactions(
        users=user_ids[keep], items=item_ids[keep], weights=weights[keep], timestamps=times[keep]
    )

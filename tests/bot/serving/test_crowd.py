"""The crowd (listener counts and the trending tally) kept from the rows the writer hands
over, or from one member read again, ends where a start-up read of the same rows starts."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.serving.crowd import Crowd
from recommender.data import Interactions
from recommender.feedback import feedback_weight
from recommender.popularity import Popularity
from storage.repositories.changes import FeedbackChange
from storage.repositories.snapshots import FeedbackChunk, FeedbackRows
from tests.recommender.test_trending import catalog_of

CATALOG = catalog_of(
    [(f"t{n}", f"Song {n}", f"Artist {n % 4}", 50, (("pop",), ("rock",))[n % 2]) for n in range(8)]
)
KINDS = [("like", None), ("love", None), ("skip", None), ("dislike", None), ("rating", 2)]
NOW = datetime.now(UTC)


def as_rows(changes: list[FeedbackChange]) -> FeedbackRows:
    return FeedbackRows(
        ids=[c.id for c in changes],
        users=[c.user_id for c in changes],
        guilds=[c.guild_id for c in changes],
        tracks=[c.track_id for c in changes],
        kinds=[c.kind for c in changes],
        values=[c.value for c in changes],
        created_at=[c.created_at for c in changes],
    )


def as_chunk(changes: list[FeedbackChange]) -> FeedbackChunk:
    return FeedbackChunk(
        ids=np.asarray([c.id for c in changes], dtype=np.int64),
        users=np.asarray([c.user_id for c in changes], dtype=np.int64),
        guilds=[c.guild_id for c in changes],
        tracks=[c.track_id for c in changes],
        kinds=[c.kind for c in changes],
        values=[c.value for c in changes],
        timestamps=np.asarray([c.created_at.timestamp() for c in changes], dtype=np.float64),
    )


def loaded(rows: list[FeedbackChange]) -> Crowd:
    crowd = Crowd.starting(CATALOG)
    crowd.load(as_chunk(rows))
    crowd.finish()
    return crowd


def assert_same(crowd: Crowd, alive: list[FeedbackChange]) -> None:
    interactions = Interactions.from_rows(
        [str(c.user_id) for c in alive],
        [c.track_id for c in alive],
        [feedback_weight(c.kind, c.value) for c in alive],
    )
    fitted = Popularity().fit(interactions)
    expected = np.zeros(len(CATALOG))
    for item, count in zip(fitted.item_vocab.ids.tolist(), fitted._counts.tolist(), strict=True):
        if CATALOG.vocab.index(item) >= 0:
            expected[CATALOG.vocab.index(item)] = count
    np.testing.assert_array_equal(crowd.counts, expected)
    reference = loaded(alive)
    for guild in (None, "1", "2"):
        got = [(e.item, e.reason) for e in crowd.chart(8, guild, None)]
        want = [(e.item, e.reason) for e in reference.chart(8, guild, None)]
        assert got == want


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_rows_handed_over_move_the_crowd_as_a_fresh_read_would(seed: int) -> None:
    rng = random.Random(seed)
    alive: list[FeedbackChange] = []
    start = [
        FeedbackChange(
            True,
            n,
            rng.randrange(6),
            rng.choice((None, 1, 2)),
            f"t{rng.randrange(9)}",  # t8 is not in the catalog: ignored
            *rng.choice(KINDS),
            NOW - timedelta(days=rng.uniform(0, 30)),
        )
        for n in range(60)
    ]
    crowd = loaded(start)
    alive = list(start)
    for n in range(60, 160):
        if alive and rng.random() < 0.4:
            gone = alive.pop(rng.randrange(len(alive)))
            crowd.apply([FeedbackChange(False, *[getattr(gone, f) for f in FIELDS])])
        else:
            row = FeedbackChange(
                True,
                n,
                rng.randrange(6),
                rng.choice((None, 1, 2)),
                f"t{rng.randrange(9)}",
                *rng.choice(KINDS),
                NOW - timedelta(days=rng.uniform(0, 2)),
            )
            alive.append(row)
            crowd.apply([row])
    assert_same(crowd, alive)

    # A member read again (their rows changed elsewhere) replaces what was known of them.
    member = alive[0].user_id
    theirs = [c for c in alive if c.user_id == member][1:]  # one row went, out of band
    alive = [c for c in alive if c.user_id != member] + theirs
    crowd.replace_member(member, as_rows(theirs))
    assert_same(crowd, alive)


FIELDS = ("id", "user_id", "guild_id", "track_id", "kind", "value", "created_at")


def test_each_rows_weight_in_tenths_is_what_the_feedback_weight_gives() -> None:
    from bot.serving.crowd import tenths, tenths_of

    kinds = ["like", "love", "skip", "dislike", *["rating"] * 5]
    values: list[int | None] = [None, None, None, None, 1, 2, 3, 4, 5]
    assert tenths_of(kinds, values).tolist() == [
        tenths(k, v) for k, v in zip(kinds, values, strict=True)
    ]
    # Off the usual pairs: a like that carries a value weighs what a like does.
    assert tenths_of(["like", "like"], [None, 3]).tolist() == [10, 10]
    with pytest.raises(ValueError, match="unknown feedback kind 'shrug'"):
        tenths_of(["like", "shrug"], [None, None])
    with pytest.raises(ValueError, match="a rating needs 1 to 5 stars"):
        tenths_of(["rating"], [9])


def test_members_are_numbered_as_they_first_appear_across_start_up_chunks() -> None:
    rows = [
        FeedbackChange(True, n, user, None, f"t{n % 8}", "like", None, NOW)
        for n, user in enumerate([30, 10, 30, 20, 10, 40])
    ]
    crowd = Crowd.starting(CATALOG)
    crowd.load(as_chunk(rows[:3]))
    crowd.load(as_chunk(rows[3:]))
    crowd.finish()
    assert list(crowd._codes.items()) == [(30, 0), (10, 1), (20, 2), (40, 3)]

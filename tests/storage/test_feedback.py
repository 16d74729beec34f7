"""Feedback writes: idempotent events, exact undo, rating replacement and validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.errors import StorageError
from storage.models import Feedback, FeedbackKind, FeedbackSource, Guild, User
from storage.repositories.feedback import (
    FeedbackEvent,
    UnknownTrackError,
    count_feedback,
    count_user_feedback,
    feedback_since,
    record_feedback,
    remove_feedback,
    user_feedback,
)

USER = 111_111_111_111_111_111
OTHER_USER = 222_222_222_222_222_222
GUILD = 333_333_333_333_333_333
MESSAGE = 444_444_444_444_444_444
BIG = 2**63 - 1


def reaction(track: str, *, kind: FeedbackKind = FeedbackKind.LIKE, **changes: object):
    fields: dict[str, object] = {
        "user_id": USER,
        "guild_id": GUILD,
        "track_id": track,
        "kind": kind,
        "source": FeedbackSource.REACTION,
        "message_id": MESSAGE,
    }
    fields.update(changes)
    return FeedbackEvent(**fields)  # type: ignore[arg-type]


def command(track: str, *, kind: FeedbackKind = FeedbackKind.LIKE, **changes: object):
    return reaction(track, kind=kind, source=FeedbackSource.COMMAND, message_id=None, **changes)


async def add_user(session: AsyncSession) -> None:
    # Flushed on its own: with no relationship() on the models, the ORM does not order a
    # user before the feedback rows that point at it.
    session.add(User(id=USER))
    await session.flush()


async def rows(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Feedback)) or 0


async def test_repeated_reaction_event_is_one_row(session: AsyncSession, tracks: list[str]):
    assert await record_feedback(session, reaction(tracks[0])) is True
    assert await record_feedback(session, reaction(tracks[0])) is False
    assert await rows(session) == 1


async def test_removed_reaction_deletes_its_row(session: AsyncSession, tracks: list[str]):
    await record_feedback(session, reaction(tracks[0]))
    removed = await remove_feedback(
        session, USER, MESSAGE, tracks[0], FeedbackKind.LIKE, FeedbackSource.REACTION
    )
    assert removed is True
    assert await rows(session) == 0
    again = await remove_feedback(
        session, USER, MESSAGE, tracks[0], FeedbackKind.LIKE, FeedbackSource.REACTION
    )
    assert again is False


async def test_removing_a_reaction_keeps_the_button_press(session: AsyncSession, tracks: list[str]):
    await record_feedback(session, reaction(tracks[0]))
    await record_feedback(session, reaction(tracks[0], source=FeedbackSource.BUTTON))
    assert await rows(session) == 2

    await remove_feedback(
        session, USER, MESSAGE, tracks[0], FeedbackKind.LIKE, FeedbackSource.REACTION
    )
    left = await user_feedback(session, USER)
    assert [(record.source, record.kind) for record in left] == [
        (FeedbackSource.BUTTON, FeedbackKind.LIKE)
    ]


async def test_same_reaction_on_another_message_is_another_row(
    session: AsyncSession, tracks: list[str]
):
    await record_feedback(session, reaction(tracks[0]))
    assert await record_feedback(session, reaction(tracks[0], message_id=MESSAGE + 1)) is True
    assert await rows(session) == 2


async def test_like_command_twice_is_one_row(session: AsyncSession, tracks: list[str]):
    assert await record_feedback(session, command(tracks[0])) is True
    assert await record_feedback(session, command(tracks[0])) is False
    assert await rows(session) == 1


async def test_unlike_command_removes_the_standalone_row_only(
    session: AsyncSession, tracks: list[str]
):
    await record_feedback(session, command(tracks[0]))
    await record_feedback(session, reaction(tracks[0]))
    removed = await remove_feedback(
        session, USER, None, tracks[0], FeedbackKind.LIKE, FeedbackSource.COMMAND
    )
    assert removed is True
    left = await user_feedback(session, USER)
    assert [record.message_id for record in left] == [MESSAGE]


async def test_rerating_replaces_the_value(session: AsyncSession, tracks: list[str]):
    rate = FeedbackKind.RATING
    assert await record_feedback(session, command(tracks[0], kind=rate, value=2)) is True
    assert await record_feedback(session, command(tracks[0], kind=rate, value=2)) is False
    assert await record_feedback(session, command(tracks[0], kind=rate, value=5)) is True
    assert await rows(session) == 1
    values = (await session.scalars(select(Feedback.value))).all()
    assert values == [5]


async def test_rerating_moves_the_timestamp_forward(session: AsyncSession, tracks: list[str]):
    first = datetime(2024, 1, 1, tzinfo=UTC)
    later = first + timedelta(days=3)
    rate = FeedbackKind.RATING
    await record_feedback(session, command(tracks[0], kind=rate, value=2, created_at=first))
    await record_feedback(session, command(tracks[0], kind=rate, value=4, created_at=later))
    [record] = await feedback_since(session, first + timedelta(days=1))
    assert (record.value, record.created_at) == (4, later)


async def test_ratings_of_different_tracks_are_separate(session: AsyncSession, tracks: list[str]):
    rate = FeedbackKind.RATING
    await record_feedback(session, command(tracks[0], kind=rate, value=1))
    await record_feedback(session, command(tracks[1], kind=rate, value=4))
    by_track = {r.track_id: r.value for r in await user_feedback(session, USER)}
    assert by_track == {tracks[0]: 1, tracks[1]: 4}


async def test_feedback_creates_user_and_guild_rows(session: AsyncSession, tracks: list[str]):
    await record_feedback(session, reaction(tracks[0]))
    assert await session.get(User, USER) is not None
    assert await session.get(Guild, GUILD) is not None


async def test_dm_feedback_has_no_guild(session: AsyncSession, tracks: list[str]):
    assert await record_feedback(session, reaction(tracks[0], guild_id=None)) is True
    assert await record_feedback(session, reaction(tracks[0], guild_id=None)) is False
    [record] = await user_feedback(session, USER)
    assert record.guild_id is None
    assert await session.scalar(select(func.count()).select_from(Guild)) == 0


async def test_largest_snowflakes_round_trip(database: Database, tracks: list[str]):
    event = reaction(tracks[0], guild_id=BIG - 1, message_id=BIG - 2, user_id=BIG)
    async with database.sessions() as session, session.begin():
        await record_feedback(session, event)
    async with database.sessions() as session:
        [record] = await user_feedback(session, BIG)
    assert (record.user_id, record.guild_id, record.message_id) == (BIG, BIG - 1, BIG - 2)


async def test_feedback_survives_commit(database: Database, tracks: list[str]):
    async with database.sessions() as session, session.begin():
        await record_feedback(session, reaction(tracks[0]))
    async with database.sessions() as session:
        assert await count_feedback(session) == 1


async def test_unknown_track_is_a_friendly_storage_error(session: AsyncSession, tracks: list[str]):
    missing = "0" * 22
    with pytest.raises(UnknownTrackError, match="not in the catalog") as caught:
        await record_feedback(session, reaction(missing))
    assert isinstance(caught.value, StorageError)
    assert caught.value.track_id == missing
    assert await rows(session) == 0
    # Validation runs before any write: no user row is left behind either.
    assert await session.get(User, USER) is None


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (FeedbackKind.RATING, None, "needs a value"),
        (FeedbackKind.RATING, 0, "from 1 to 5"),
        (FeedbackKind.RATING, 6, "from 1 to 5"),
        (FeedbackKind.RATING, True, "integer"),
        (FeedbackKind.LIKE, 3, "only ratings"),
        (FeedbackKind.SKIP, 1, "only ratings"),
    ],
)
async def test_bad_values_are_rejected(
    session: AsyncSession,
    tracks: list[str],
    kind: FeedbackKind,
    value: int | None,
    message: str,
):
    with pytest.raises(ValueError, match=message):
        await record_feedback(session, command(tracks[0], kind=kind, value=value))
    assert await rows(session) == 0


async def test_naive_datetime_is_rejected(session: AsyncSession, tracks: list[str]):
    with pytest.raises(ValueError, match="naive"):
        await record_feedback(session, reaction(tracks[0], created_at=datetime(2024, 1, 1)))


@pytest.mark.parametrize("user_id", [0, -5, 2**63, "123"])
async def test_bad_user_ids_are_rejected(session: AsyncSession, tracks: list[str], user_id):
    with pytest.raises(ValueError, match="user id"):
        await record_feedback(session, reaction(tracks[0], user_id=user_id))


async def test_unknown_kind_is_rejected(session: AsyncSession, tracks: list[str]):
    with pytest.raises(ValueError, match="unknown feedback FeedbackKind"):
        await record_feedback(session, reaction(tracks[0], kind="meh"))


async def test_database_check_rejects_an_out_of_range_rating(
    session: AsyncSession, tracks: list[str]
):
    await add_user(session)
    session.add(
        Feedback(
            user_id=USER,
            track_id=tracks[0],
            kind=FeedbackKind.RATING,
            source=FeedbackSource.COMMAND,
            value=9,
        )
    )
    with pytest.raises(IntegrityError, match=r"(?i)check"):
        await session.flush()


async def test_database_check_rejects_a_value_on_a_like(session: AsyncSession, tracks: list[str]):
    await add_user(session)
    session.add(
        Feedback(
            user_id=USER,
            track_id=tracks[0],
            kind=FeedbackKind.LIKE,
            source=FeedbackSource.COMMAND,
            value=3,
        )
    )
    with pytest.raises(IntegrityError, match=r"(?i)check"):
        await session.flush()


async def test_database_check_rejects_a_rating_without_value(
    session: AsyncSession, tracks: list[str]
) -> None:
    # A NULL value makes `value BETWEEN 1 AND 5` NULL, and a NULL CHECK passes unless the
    # constraint tests IS NOT NULL itself.
    await add_user(session)
    session.add(
        Feedback(
            user_id=USER,
            track_id=tracks[0],
            kind=FeedbackKind.RATING,
            source=FeedbackSource.COMMAND,
            value=None,
        )
    )
    with pytest.raises(IntegrityError, match=r"(?i)check"):
        await session.flush()


async def test_database_rejects_a_duplicate_reaction_inserted_directly(
    session: AsyncSession, tracks: list[str]
):
    await add_user(session)
    for _ in range(2):
        session.add(
            Feedback(
                user_id=USER,
                track_id=tracks[0],
                kind=FeedbackKind.LIKE,
                source=FeedbackSource.REACTION,
                message_id=MESSAGE,
            )
        )
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.flush()


async def test_history_is_newest_first_and_paginates(session: AsyncSession, tracks: list[str]):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for day, track in enumerate(tracks):
        await record_feedback(session, command(track, created_at=start + timedelta(days=day)))
    await record_feedback(session, command(tracks[0], user_id=OTHER_USER))

    first_page = await user_feedback(session, USER, limit=2)
    second_page = await user_feedback(session, USER, limit=2, offset=2)
    assert [r.track_id for r in first_page] == [tracks[2], tracks[1]]
    assert [r.track_id for r in second_page] == [tracks[0]]
    assert await count_user_feedback(session, USER) == 3
    assert await count_user_feedback(session, OTHER_USER) == 1
    assert await count_feedback(session) == 4


async def test_negative_paging_is_rejected(session: AsyncSession):
    with pytest.raises(ValueError, match="negative"):
        await user_feedback(session, USER, offset=-1)


async def test_feedback_since_filters_by_time_and_orders_by_id(
    session: AsyncSession, tracks: list[str]
):
    start = datetime(2024, 5, 1, tzinfo=UTC)
    # Recorded out of time order: the result follows ids, not timestamps.
    await record_feedback(session, command(tracks[0], created_at=start + timedelta(days=2)))
    await record_feedback(session, command(tracks[1], created_at=start))
    await record_feedback(session, command(tracks[2], created_at=start + timedelta(days=1)))

    everything = await feedback_since(session, None)
    assert [r.track_id for r in everything] == tracks
    assert [r.id for r in everything] == sorted(r.id for r in everything)

    recent = await feedback_since(session, start + timedelta(days=1))
    assert [r.track_id for r in recent] == [tracks[0], tracks[2]]

    with pytest.raises(ValueError, match="naive"):
        await feedback_since(session, datetime(2024, 5, 1))


async def test_created_at_in_another_zone_is_stored_as_utc(
    session: AsyncSession, tracks: list[str]
):
    local = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    await record_feedback(session, command(tracks[0], created_at=local))
    [record] = await user_feedback(session, USER)
    assert record.created_at == local
    assert record.created_at.utcoffset() == timedelta(0)


async def test_many_events_at_once_match_one_by_one(session: AsyncSession, tracks: list[str]):
    from storage.repositories.feedback import record_feedback_many

    await record_feedback(session, reaction(tracks[0]))  # stored before: a repeat below
    events = [
        reaction(tracks[0]),  # repeat of the stored one
        reaction(tracks[1]),
        reaction(tracks[1]),  # repeat within the batch
        reaction(tracks[1], kind=FeedbackKind.LOVE),
        command(tracks[2]),
        command(tracks[2], user_id=OTHER_USER, guild_id=None),
        reaction(tracks[2], message_id=MESSAGE + 1),
    ]
    assert await record_feedback_many(session, events) == [
        False,
        True,
        False,
        True,
        True,
        True,
        True,
    ]
    assert await rows(session) == 6
    assert await session.scalar(select(func.count()).select_from(User)) == 2
    assert await session.scalar(select(func.count()).select_from(Guild)) == 1
    assert await record_feedback_many(session, []) == []


async def test_many_events_with_a_bad_one_store_nothing(session: AsyncSession, tracks: list[str]):
    from storage.repositories.feedback import record_feedback_many

    with pytest.raises(UnknownTrackError):
        await record_feedback_many(session, [reaction(tracks[0]), reaction("0" * 22)])
    with pytest.raises(ValueError, match="record_feedback"):
        await record_feedback_many(
            session, [reaction(tracks[0], kind=FeedbackKind.RATING, value=3)]
        )
    assert await rows(session) == 0


# --- the change log incremental readers keep counts from ---------------------------------


async def test_a_watched_session_logs_every_row_added_and_removed(
    session: AsyncSession, tracks: list[str]
):
    from storage.repositories.changes import watch_changes
    from storage.repositories.feedback import record_feedback_many
    from storage.repositories.people import delete_user_data

    log = watch_changes(session)
    assert await record_feedback_many(session, [reaction(tracks[0]), reaction(tracks[1])]) == [
        True,
        True,
    ]
    assert await record_feedback_many(session, [reaction(tracks[0])]) == [False]  # a repeat
    await record_feedback(session, command(tracks[2], kind=FeedbackKind.RATING, value=4))
    await record_feedback(session, command(tracks[2], kind=FeedbackKind.RATING, value=4))  # same
    await record_feedback(session, command(tracks[2], kind=FeedbackKind.RATING, value=2))
    assert await remove_feedback(
        session, USER, MESSAGE, tracks[1], FeedbackKind.LIKE, FeedbackSource.REACTION
    )
    steps = [(c.added, c.track_id, c.kind, c.value) for c in log]
    assert steps == [
        (True, tracks[0], "like", None),
        (True, tracks[1], "like", None),
        (True, tracks[2], "rating", 4),
        (False, tracks[2], "rating", 4),  # the stars a new rating replaced
        (True, tracks[2], "rating", 2),
        (False, tracks[1], "like", None),
    ]
    assert all(c.user_id == USER and c.created_at.tzinfo is not None for c in log)
    assert {c.guild_id for c in log if c.kind == "like"} == {GUILD}

    del log[:]
    await delete_user_data(session, USER)
    assert sorted((c.added, c.track_id) for c in log) == [(False, tracks[0]), (False, tracks[2])]
    assert await rows(session) == 0


async def test_an_unwatched_session_logs_nothing(session: AsyncSession, tracks: list[str]):
    from storage.repositories.changes import LOG_KEY

    await record_feedback(session, reaction(tracks[0]))
    assert LOG_KEY not in session.info

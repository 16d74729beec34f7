"""Users and guilds, and a member's data on request (/forget-me, /export-me)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Feedback, FeedbackKind, FeedbackSource, Guild, RecommendationServed, User
from storage.repositories.feedback import FeedbackEvent, record_feedback
from storage.repositories.people import (
    delete_user_data,
    ensure_guild,
    ensure_user,
    export_user_data,
)
from storage.repositories.served import ServedItem, record_served

USER = 111_111_111_111_111_111
OTHER_USER = 222_222_222_222_222_222
GUILD = 333_333_333_333_333_333
MESSAGE = 444_444_444_444_444_444
BIG = 2**63 - 1


async def count(session: AsyncSession, model: type, **where: int) -> int:
    statement = select(func.count()).select_from(model)
    for name, value in where.items():
        statement = statement.where(getattr(model, name) == value)
    return await session.scalar(statement) or 0


async def give_feedback(session: AsyncSession, user_id: int, tracks: list[str]) -> None:
    """Two reactions, a rating and two served tracks for `user_id` on their own message."""
    message = MESSAGE + user_id % 1000
    for track in tracks[:2]:
        await record_feedback(
            session,
            FeedbackEvent(
                user_id=user_id,
                guild_id=GUILD,
                track_id=track,
                kind=FeedbackKind.LOVE,
                source=FeedbackSource.REACTION,
                message_id=message,
            ),
        )
    await record_feedback(
        session,
        FeedbackEvent(
            user_id=user_id,
            guild_id=None,
            track_id=tracks[2],
            kind=FeedbackKind.RATING,
            source=FeedbackSource.COMMAND,
            value=4,
        ),
    )
    await record_served(
        session,
        [
            ServedItem(
                message_id=message,
                channel_id=None,
                guild_id=GUILD,
                user_id=user_id,
                track_id=track,
                position=position,
                model_kind="popular",
            )
            for position, track in enumerate(tracks[:2])
        ],
    )


async def test_ensure_user_is_idempotent(session: AsyncSession):
    await ensure_user(session, USER)
    await ensure_user(session, USER)
    assert await count(session, User) == 1


async def test_ensure_guild_keeps_a_name_unless_given_a_new_one(session: AsyncSession):
    await ensure_guild(session, GUILD, "Vinyl Club")
    await ensure_guild(session, GUILD)
    guild = await session.get(Guild, GUILD, populate_existing=True)
    assert guild is not None
    assert guild.name == "Vinyl Club"

    await ensure_guild(session, GUILD, "Tape Club")
    guild = await session.get(Guild, GUILD, populate_existing=True)
    assert guild is not None
    assert guild.name == "Tape Club"
    assert await count(session, Guild) == 1


async def test_largest_snowflakes_round_trip(database: Database):
    async with database.sessions() as session, session.begin():
        await ensure_user(session, BIG)
        await ensure_guild(session, BIG, "edge")
    async with database.sessions() as session:
        assert await session.scalar(select(User.id)) == BIG
        assert await session.scalar(select(Guild.id)) == BIG


@pytest.mark.parametrize("bad", [0, -1, 2**63, True, 1.5])
async def test_bad_ids_are_rejected(session: AsyncSession, bad: object):
    with pytest.raises(ValueError, match="user id"):
        await ensure_user(session, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="guild id"):
        await ensure_guild(session, bad)  # type: ignore[arg-type]


async def test_delete_user_data_removes_only_that_user(database: Database, tracks: list[str]):
    async with database.sessions() as session, session.begin():
        await give_feedback(session, USER, tracks)
        await give_feedback(session, OTHER_USER, tracks)

    async with database.sessions() as session, session.begin():
        counts = await delete_user_data(session, USER)
    assert counts == {
        "feedback": 3,
        "recommendations_served": 2,
        "plays": 0,
        "listening_optin": 0,
        "users": 1,
    }

    async with database.sessions() as session:
        assert await count(session, Feedback, user_id=USER) == 0
        assert await count(session, RecommendationServed, user_id=USER) == 0
        assert await count(session, User, id=USER) == 0
        assert await count(session, Feedback, user_id=OTHER_USER) == 3
        assert await count(session, RecommendationServed, user_id=OTHER_USER) == 2
        assert await count(session, User, id=OTHER_USER) == 1
        # Guilds are not about one member: they stay.
        assert await count(session, Guild) == 1


async def test_delete_unknown_user_deletes_nothing(session: AsyncSession, tracks: list[str]):
    await give_feedback(session, OTHER_USER, tracks)
    counts = await delete_user_data(session, USER)
    assert counts == {
        "feedback": 0,
        "recommendations_served": 0,
        "plays": 0,
        "listening_optin": 0,
        "users": 0,
    }
    assert await count(session, Feedback) == 3


async def test_export_holds_the_users_data_as_json(session: AsyncSession, tracks: list[str]):
    await give_feedback(session, USER, tracks)
    await give_feedback(session, OTHER_USER, tracks)

    exported = json.loads(json.dumps(await export_user_data(session, USER)))

    assert exported["user_id"] == str(USER)
    assert exported["user_created_at"] is not None
    assert len(exported["feedback"]) == 3
    assert len(exported["recommendations_served"]) == 2
    rating = next(f for f in exported["feedback"] if f["kind"] == "rating")
    assert (rating["track_id"], rating["value"], rating["guild_id"]) == (tracks[2], 4, None)
    love = exported["feedback"][0]
    assert (love["kind"], love["source"], love["guild_id"]) == ("love", "reaction", str(GUILD))
    # Snowflakes as strings: exact even where JSON readers use doubles.
    assert love["message_id"] == str(MESSAGE + USER % 1000)
    assert {s["track_id"] for s in exported["recommendations_served"]} == set(tracks[:2])


async def test_export_of_an_unknown_user_is_empty(session: AsyncSession):
    exported = await export_user_data(session, USER)
    assert exported["feedback"] == []
    assert exported["recommendations_served"] == []
    assert exported["user_created_at"] is None

"""The hot writes skip asking about members, servers and tracks seen committed, and never
trust that memory past a rollback, a deletion or a failed statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import Feedback, User
from storage.repositories.feedback import FeedbackEvent, UnknownTrackError, record_feedback_many
from storage.repositories.people import delete_user_data
from storage.repositories.served import ServedItem, record_served
from tests.storage.test_feedback import GUILD, USER, reaction


def like(track: str, message: int) -> FeedbackEvent:
    return reaction(track, message_id=message)


def shown(track: str, message: int, position: int = 0) -> ServedItem:
    return ServedItem(
        message_id=message,
        channel_id=3003,
        guild_id=GUILD,
        user_id=USER,
        track_id=track,
        position=position,
        model_kind="hybrid",
    )


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """Every SQL statement the database runs inside the block."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()).lower())

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def asked(seen: list[str]) -> list[str]:
    """The statements that ask about or create a member, server or track."""
    return [
        statement
        for statement in seen
        if statement.startswith(("insert into users", "insert into guilds"))
        or statement.startswith("select tracks.id from tracks")
    ]


async def write(database: Database, events: list[FeedbackEvent]) -> None:
    async with database.sessions() as session, session.begin():
        await record_feedback_many(session, events)


async def feedback_of(database: Database, user: int) -> int:
    async with database.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(Feedback).where(Feedback.user_id == user)
        )
    return found or 0


async def test_a_second_write_for_the_same_member_asks_nothing(
    database: Database, tracks: list[str]
) -> None:
    with statements(database) as seen:
        await write(database, [like(tracks[0], 1)])
    assert len(asked(seen)) == 3  # the member, the server, the track

    with statements(database) as seen:
        await write(database, [like(tracks[0], 2)])
        async with database.sessions() as session, session.begin():
            await record_served(session, [shown(tracks[0], 3)])
    assert asked(seen) == []
    assert await feedback_of(database, USER) == 2

    with statements(database) as seen:  # a new track is looked up, the member is not
        await write(database, [like(tracks[1], 4)])
    assert [s.split(" where")[0] for s in asked(seen)] == ["select tracks.id from tracks"]


async def test_nothing_is_remembered_from_a_transaction_that_rolled_back(
    database: Database, tracks: list[str]
) -> None:
    async def batch_that_fails() -> None:
        async with database.sessions() as session, session.begin():
            await record_feedback_many(session, [like(tracks[0], 1)])
            raise RuntimeError("the rest of the batch failed")

    with pytest.raises(RuntimeError):
        await batch_that_fails()
    async with database.sessions() as session:
        assert await session.get(User, USER) is None

    with statements(database) as seen:
        await write(database, [like(tracks[0], 1)])
    assert len(asked(seen)) == 3
    assert await feedback_of(database, USER) == 1


async def test_a_member_who_forgot_themselves_is_stored_again_when_they_react(
    database: Database, tracks: list[str]
) -> None:
    await write(database, [like(tracks[0], 1)])
    async with database.sessions() as session, session.begin():
        await delete_user_data(session, USER)

    await write(database, [like(tracks[0], 2)])
    async with database.sessions() as session, session.begin():
        await record_served(session, [shown(tracks[1], 2)])
    async with database.sessions() as session:
        assert await session.get(User, USER) is not None
    assert await feedback_of(database, USER) == 1


async def test_a_row_deleted_behind_its_back_fails_one_write_then_is_asked_again(
    database: Database, tracks: list[str]
) -> None:
    await write(database, [like(tracks[0], 1)])
    async with database.sessions() as session, session.begin():  # as another process would
        await session.execute(text("DELETE FROM feedback"))
        await session.execute(text("DELETE FROM users"))

    with pytest.raises(IntegrityError):  # the foreign key holds
        await write(database, [like(tracks[0], 2)])
    await write(database, [like(tracks[0], 2)])  # what the writer's retry does
    assert await feedback_of(database, USER) == 1


async def test_an_unknown_track_is_still_refused(database: Database, tracks: list[str]) -> None:
    await write(database, [like(tracks[0], 1)])
    with pytest.raises(UnknownTrackError):
        await write(database, [like(tracks[0], 2), like("0" * 22, 3)])
    assert await feedback_of(database, USER) == 1

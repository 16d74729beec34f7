"""The single feedback writer: batches concurrent writes, keeps their order, isolates a bad
one, and writes everything queued before it closes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.serving.writer import FeedbackWriter, WriterClosedError
from storage.catalog.importer import import_catalog
from storage.database import Database
from storage.models import Feedback, FeedbackKind, FeedbackSource
from storage.repositories.feedback import (
    FeedbackEvent,
    UnknownTrackError,
    record_feedback,
    remove_feedback,
)
from tests.factories import KAGGLE_114K_HEADER, kaggle_row, track_id, write_csv

MESSAGE = 555_555_555_555_555_555


@pytest.fixture
async def catalog(database: Database, tmp_path: Path) -> Database:
    rows = [kaggle_row(i, track_id(i), f"Song {i}", "Band", "rock") for i in range(3)]
    await import_catalog(database, [str(write_csv(tmp_path / "c.csv", KAGGLE_114K_HEADER, rows))])
    return database


def reaction(user: int, number: int, kind: FeedbackKind = FeedbackKind.LIKE) -> FeedbackEvent:
    return FeedbackEvent(
        user_id=user,
        guild_id=None,
        track_id=track_id(number),
        kind=kind,
        source=FeedbackSource.REACTION,
        message_id=MESSAGE,
    )


async def rows(database: Database) -> int:
    async with database.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Feedback)) or 0)


async def test_a_burst_is_written_in_few_transactions(catalog: Database) -> None:
    writer = FeedbackWriter(catalog)
    events = [reaction(1000 + user, user % 3) for user in range(300)]
    results = await asyncio.gather(
        *(writer.record(event) for event in events),
        # The same events again: duplicates, stored once.
        *(writer.record(event) for event in events[:50]),
    )
    assert results[:300] == [True] * 300
    assert results[300:] == [False] * 50
    assert await rows(catalog) == 300
    assert writer.batches <= 3  # one commit per burst, not one per event


async def test_order_is_kept(catalog: Database) -> None:
    writer = FeedbackWriter(catalog)
    event = reaction(42, 1)

    def remove(session):  # type: ignore[no-untyped-def]
        return remove_feedback(
            session, 42, MESSAGE, track_id(1), FeedbackKind.LIKE, FeedbackSource.REACTION
        )

    added, removed = await asyncio.gather(
        writer.run(lambda s: record_feedback(s, event)), writer.run(remove)
    )
    assert (added, removed) == (True, True)
    assert await rows(catalog) == 0


async def test_a_bad_write_fails_alone(catalog: Database) -> None:
    writer = FeedbackWriter(catalog)
    bad = FeedbackEvent(
        user_id=7,
        guild_id=None,
        track_id="0" * 22,  # not in the catalog
        kind=FeedbackKind.LIKE,
        source=FeedbackSource.COMMAND,
    )
    results = await asyncio.gather(
        writer.record(reaction(1, 0)),
        writer.record(bad),
        writer.run(lambda s: record_feedback(s, reaction(2, 0))),
        return_exceptions=True,
    )
    assert results[0] is True
    assert isinstance(results[1], UnknownTrackError)
    assert results[2] is True
    assert await rows(catalog) == 2


async def test_close_writes_what_is_queued_then_refuses(catalog: Database) -> None:
    writer = FeedbackWriter(catalog)
    pending = [
        asyncio.ensure_future(writer.run(lambda s, u=user: record_feedback(s, reaction(u, 2))))
        for user in range(1, 21)
    ]
    await asyncio.sleep(0)  # queued, not yet written
    await writer.close()
    assert all(future.done() for future in pending)
    assert await rows(catalog) == 20
    with pytest.raises(WriterClosedError):
        await writer.run(lambda s: record_feedback(s, reaction(99, 0)))


async def test_an_urgent_job_nobody_awaits_goes_first_and_is_written_before_close(
    catalog: Database,
) -> None:
    writer = FeedbackWriter(catalog)
    order: list[str] = []

    async def noted(session: AsyncSession, name: str, user: int) -> bool:
        order.append(name)
        return await record_feedback(session, reaction(user, 1))

    queued = [
        asyncio.ensure_future(writer.run(lambda s, u=user: noted(s, f"reaction {u}", u)))
        for user in range(1, 6)
    ]
    await asyncio.sleep(0)  # the reactions are queued
    card = writer.enqueue_urgent(lambda s: noted(s, "card", 99))
    assert not card.done()  # queued at once, written later
    await writer.close()  # nobody awaited the card: close writes it all the same
    assert card.result() is True
    assert all(future.done() for future in queued)
    assert await rows(catalog) == 6
    # The first batch may have started before the card came; the card is in the next one,
    # before every reaction still waiting then.
    assert order.index("card") <= 1, order
    with pytest.raises(WriterClosedError):
        writer.enqueue_urgent(lambda s: noted(s, "late", 100))

"""Recommendations served: mapping a message back to its tracks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Guild, RecommendationServed, User
from storage.repositories.feedback import UnknownTrackError
from storage.repositories.served import (
    ServedItem,
    mark_shown,
    recently_served,
    record_served,
    served_for_message,
    served_track,
    shown_pick,
)

USER = 111_111_111_111_111_111
OTHER_USER = 222_222_222_222_222_222
GUILD = 333_333_333_333_333_333
CHANNEL = 555_555_555_555_555_555
MESSAGE = 444_444_444_444_444_444
BIG = 2**63 - 1


def item(track: str, position: int = 0, **changes: object) -> ServedItem:
    base = ServedItem(
        message_id=MESSAGE,
        channel_id=CHANNEL,
        guild_id=GUILD,
        user_id=USER,
        track_id=track,
        position=position,
        model_kind="als",
        model_version="3",
        reason="because you liked Song 1",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def rows(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(RecommendationServed)) or 0


async def test_served_items_map_back_by_position(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(track, position) for position, track in enumerate(tracks)])
    assert await rows(session) == 3

    second = await served_track(session, MESSAGE, 1)
    assert second is not None
    assert (second.track_id, second.user_id, second.model_kind) == (tracks[1], USER, "als")
    assert second.created_at is not None
    assert second.created_at.tzinfo is not None

    listed = await served_for_message(session, MESSAGE)
    assert [s.track_id for s in listed] == tracks
    assert [s.position for s in listed] == [0, 1, 2]


async def test_unknown_message_or_position_is_none(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0])])
    assert await served_track(session, MESSAGE + 1) is None
    assert await served_track(session, MESSAGE, 5) is None
    assert await served_for_message(session, MESSAGE + 1) == []


async def test_recording_again_replaces_the_row(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0])])
    await record_served(session, [item(tracks[0])])
    assert await rows(session) == 1

    # The message was edited to show another track: reactions must map to the new one.
    await record_served(session, [item(tracks[2], reason="rerolled", model_version="4")])
    assert await rows(session) == 1
    shown = await served_track(session, MESSAGE)
    assert shown is not None
    assert (shown.track_id, shown.reason, shown.model_version) == (tracks[2], "rerolled", "4")


async def test_duplicate_position_in_one_call_is_rejected(session: AsyncSession, tracks: list[str]):
    with pytest.raises(ValueError, match="twice"):
        await record_served(session, [item(tracks[0]), item(tracks[1])])
    assert await rows(session) == 0


async def test_unknown_track_writes_nothing(session: AsyncSession, tracks: list[str]):
    with pytest.raises(UnknownTrackError):
        await record_served(session, [item(tracks[0]), item("1" * 22, position=1)])
    assert await rows(session) == 0


async def test_creates_user_and_guild_rows(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0])])
    assert await session.get(User, USER) is not None
    assert await session.get(Guild, GUILD) is not None


async def test_dm_without_guild_or_channel(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0], guild_id=None, channel_id=None)])
    shown = await served_track(session, MESSAGE)
    assert shown is not None
    assert (shown.guild_id, shown.channel_id) == (None, None)
    assert await session.scalar(select(func.count()).select_from(Guild)) == 0


async def test_largest_snowflakes_round_trip(database: Database, tracks: list[str]):
    big = item(tracks[0], message_id=BIG, channel_id=BIG - 1, guild_id=BIG - 2, user_id=BIG - 3)
    async with database.sessions() as session, session.begin():
        await record_served(session, [big])
    async with database.sessions() as session:
        shown = await served_track(session, BIG)
    assert shown is not None
    assert (shown.message_id, shown.channel_id, shown.guild_id, shown.user_id) == (
        BIG,
        BIG - 1,
        BIG - 2,
        BIG - 3,
    )


async def test_recently_served_is_the_users_newest_first(session: AsyncSession, tracks: list[str]):
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for day, track in enumerate(tracks):
        await record_served(
            session,
            [item(track, message_id=MESSAGE + day, created_at=start + timedelta(days=day))],
        )
    await record_served(session, [item(tracks[0], message_id=MESSAGE + 9, user_id=OTHER_USER)])

    recent = await recently_served(session, USER, 2)
    assert [s.track_id for s in recent] == [tracks[2], tracks[1]]
    assert all(s.user_id == USER for s in await recently_served(session, USER, 10))
    assert len(await recently_served(session, USER, 10)) == 3


async def test_long_reason_is_shortened(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0], reason="x" * 2000)])
    shown = await served_track(session, MESSAGE)
    assert shown is not None
    assert shown.reason is not None
    assert len(shown.reason) == 512
    assert shown.reason.endswith("…")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"position": -1}, "position"),
        ({"model_kind": ""}, "model kind"),
        ({"message_id": 0}, "message id"),
        ({"created_at": datetime(2024, 1, 1)}, "naive"),
    ],
)
async def test_bad_items_are_rejected(
    session: AsyncSession, tracks: list[str], changes: dict[str, object], message: str
):
    with pytest.raises(ValueError, match=message):
        await record_served(session, [item(tracks[0], **changes)])
    assert await rows(session) == 0


async def test_database_rejects_a_duplicate_position_inserted_directly(
    session: AsyncSession, tracks: list[str]
):
    session.add(User(id=USER))
    await session.flush()
    for track in tracks[:2]:
        session.add(
            RecommendationServed(
                message_id=MESSAGE, user_id=USER, track_id=track, position=0, model_kind="x"
            )
        )
    with pytest.raises(IntegrityError, match=r"(?i)unique"):
        await session.flush()


# --- which pick a card shows ------------------------------------------------------------


async def test_a_new_card_shows_its_first_pick(session: AsyncSession, tracks: list[str]):
    now = datetime(2024, 5, 1, tzinfo=UTC)
    await record_served(
        session,
        [
            item(track, position, shown_at=now if position == 0 else None)
            for position, track in enumerate(tracks)
        ],
    )
    shown = await shown_pick(session, MESSAGE)
    assert shown is not None
    assert (shown.position, shown.track_id, shown.shown_at) == (0, tracks[0], now)
    later = await served_track(session, MESSAGE, 2)
    assert later is not None
    assert later.shown_at is None


async def test_marking_a_pick_shown_moves_the_card_on(session: AsyncSession, tracks: list[str]):
    await record_served(
        session,
        [
            item(
                track,
                position,
                shown_at=datetime(2024, 5, 1, tzinfo=UTC) if position == 0 else None,
            )
            for position, track in enumerate(tracks)
        ],
    )
    assert await mark_shown(session, MESSAGE, 1)
    shown = await shown_pick(session, MESSAGE)
    assert shown is not None
    assert (shown.position, shown.track_id) == (1, tracks[1])
    assert shown.shown_at is not None


async def test_marking_again_keeps_the_first_time(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0])])
    first = datetime(2024, 5, 1, tzinfo=UTC)
    assert await mark_shown(session, MESSAGE, 0, at=first)
    assert await mark_shown(session, MESSAGE, 0, at=first + timedelta(hours=1))
    shown = await shown_pick(session, MESSAGE)
    assert shown is not None
    assert shown.shown_at == first


async def test_marking_a_missing_pick_says_so(session: AsyncSession, tracks: list[str]):
    await record_served(session, [item(tracks[0])])
    assert not await mark_shown(session, MESSAGE, 5)
    assert not await mark_shown(session, MESSAGE + 1, 0)


async def test_no_shown_pick_for_unknown_or_unshown_messages(
    session: AsyncSession, tracks: list[str]
):
    await record_served(session, [item(tracks[0])])
    assert await shown_pick(session, MESSAGE) is None
    assert await shown_pick(session, MESSAGE + 1) is None


async def test_naive_shown_at_is_rejected(session: AsyncSession, tracks: list[str]):
    with pytest.raises(ValueError, match="naive"):
        await record_served(session, [item(tracks[0], shown_at=datetime(2024, 1, 1))])
    await record_served(session, [item(tracks[0])])
    with pytest.raises(ValueError, match="naive"):
        await mark_shown(session, MESSAGE, 0, at=datetime(2024, 1, 1))

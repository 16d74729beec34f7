"""Interaction snapshots: what training reads instead of the live database."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import FeedbackKind, FeedbackSource
from storage.repositories.feedback import FeedbackEvent, count_feedback_after, record_feedback
from storage.snapshot import SnapshotError, read_snapshot, write_snapshot

MEMBER = 123_456_789_012_345_678


async def give(session: AsyncSession, track: str, kind: FeedbackKind, value: int | None = None):
    await record_feedback(
        session,
        FeedbackEvent(
            user_id=MEMBER,
            guild_id=None,
            track_id=track,
            kind=kind,
            source=FeedbackSource.COMMAND,
            value=value,
        ),
    )


async def test_a_snapshot_holds_the_catalog_and_every_feedback_row(
    session: AsyncSession, tracks: list[str], tmp_path: Path
) -> None:
    await give(session, tracks[0], FeedbackKind.LIKE)
    await give(session, tracks[1], FeedbackKind.RATING, 4)
    await give(session, tracks[2], FeedbackKind.DISLIKE)
    await session.commit()

    header = await write_snapshot(session, tmp_path / "snaps" / "snap.npz")
    snapshot = read_snapshot(tmp_path / "snaps" / "snap.npz")

    assert header["feedback_rows"] == len(snapshot) == 3
    assert snapshot.max_feedback_id == int(snapshot.feedback_ids.max())
    assert snapshot.users.tolist() == [MEMBER] * 3
    assert snapshot.tracks.tolist() == tracks
    assert snapshot.kinds.tolist() == ["like", "rating", "dislike"]
    assert np.isnan(snapshot.values[0])
    assert snapshot.values[1] == 4.0
    assert (snapshot.created > 1_600_000_000).all()
    assert snapshot.catalog.ids == sorted(tracks)
    assert snapshot.catalog.artists[0] == ("Artist 1",)
    assert snapshot.catalog.features["tempo"] == [120.0] * 3
    assert [p.name for p in (tmp_path / "snaps").iterdir()] == ["snap.npz"]  # no temporary left


async def test_an_empty_database_snapshots_as_empty(session: AsyncSession, tmp_path: Path) -> None:
    header = await write_snapshot(session, tmp_path / "snaps" / "snap.npz")
    snapshot = read_snapshot(tmp_path / "snaps" / "snap.npz")
    assert (header["max_feedback_id"], len(snapshot), len(snapshot.catalog)) == (0, 0, 0)


async def test_a_failed_write_leaves_no_file(
    session: AsyncSession, tracks: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left"):
        await write_snapshot(session, tmp_path / "snaps" / "snap.npz")
    assert list((tmp_path / "snaps").iterdir()) == []


async def test_damaged_snapshots_are_refused_with_the_reason(
    session: AsyncSession, tracks: list[str], tmp_path: Path
) -> None:
    await give(session, tracks[0], FeedbackKind.LIKE)
    await session.commit()
    good = tmp_path / "snaps" / "snap.npz"
    await write_snapshot(session, good)

    with pytest.raises(SnapshotError, match="no snapshot file here"):
        read_snapshot(tmp_path / "missing.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(SnapshotError, match="unreadable snapshot"):
        read_snapshot(truncated)
    other = tmp_path / "other.npz"
    np.savez(other, header=np.asarray('{"format": "something else"}'))
    with pytest.raises(SnapshotError, match="not an Earworm snapshot"):
        read_snapshot(other)


async def test_new_rows_are_counted_after_a_snapshot(
    database: Database, session: AsyncSession, tracks: list[str], tmp_path: Path
) -> None:
    await give(session, tracks[0], FeedbackKind.LIKE)
    await session.commit()
    header = await write_snapshot(session, tmp_path / "snaps" / "snap.npz")
    await give(session, tracks[1], FeedbackKind.LIKE)
    await give(session, tracks[2], FeedbackKind.SKIP)
    await session.commit()
    assert await count_feedback_after(session, header["max_feedback_id"]) == 2
    assert await count_feedback_after(session, 0) == 3


async def test_feedback_rows_read_the_same_as_the_orm(
    session: AsyncSession, tracks: list[str]
) -> None:
    from sqlalchemy import select

    from storage.models import Feedback
    from storage.repositories.snapshots import feedback_rows

    await give(session, tracks[0], FeedbackKind.LIKE)
    await give(session, tracks[1], FeedbackKind.RATING, 5)
    await session.commit()

    rows = await feedback_rows(session)  # SQLite: fetched and converted off the event loop
    stored = list(await session.scalars(select(Feedback).order_by(Feedback.id)))

    assert rows.ids == [f.id for f in stored]
    assert rows.users == [f.user_id for f in stored]
    assert rows.guilds == [None, None]
    assert rows.tracks == tracks[:2]
    assert rows.kinds == ["like", "rating"]
    assert rows.values == [None, 5]
    assert rows.created_at == [f.created_at for f in stored]
    assert all(moment.tzinfo is not None for moment in rows.created_at)


async def test_feedback_in_chunks_reads_every_row_once_and_can_start_at_a_time(
    session: AsyncSession, tracks: list[str]
) -> None:
    from datetime import UTC, datetime, timedelta

    from storage.repositories.snapshots import feedback_chunks, feedback_rows, feedback_rows_of

    old = datetime.now(UTC) - timedelta(days=90)
    for number, track in enumerate(tracks[:3]):
        await record_feedback(
            session,
            FeedbackEvent(
                user_id=MEMBER + number % 2,
                guild_id=None,
                track_id=track,
                kind=FeedbackKind.LIKE,
                source=FeedbackSource.COMMAND,
                created_at=old if number < 2 else None,
            ),
        )
    await session.commit()
    every = await feedback_rows(session)

    chunks = [chunk async for chunk in feedback_chunks(session, 2)]
    assert [len(chunk) for chunk in chunks] == [2, 1]
    assert [i for chunk in chunks for i in chunk.ids.tolist()] == every.ids
    assert [k for chunk in chunks for k in chunk.kinds] == every.kinds
    assert [u for chunk in chunks for u in chunk.users.tolist()] == every.users
    assert [t for chunk in chunks for t in chunk.timestamps.tolist()] == [
        moment.timestamp() for moment in every.created_at
    ]
    recent = [chunk async for chunk in feedback_chunks(session, 2, since=old + timedelta(1))]
    assert [i for chunk in recent for i in chunk.ids.tolist()] == every.ids[2:]
    mine = await feedback_rows_of(session, [MEMBER + 1])
    assert mine.ids == every.ids[1::2]
    assert mine.kinds == ["like"]


@pytest.mark.database_neutral("converts values in memory; reads nothing")
@pytest.mark.parametrize(
    "moments",
    [
        ["2026-03-05 12:34:56.123456", "2026-03-05 12:34:56", "1999-12-31T23:59:59.5"],
        ["2026-03-05 12:34:56+01:00", "2026-03-05 12:34:56.000001"],  # an offset: one by one
        [datetime(2026, 3, 5, 12, 34, 56, 7, tzinfo=UTC), "2026-03-05 12:34:56"],
    ],
)
def test_stored_times_become_the_seconds_a_datetime_would_give(moments: list[Any]) -> None:
    from storage.repositories.snapshots import _utc, posix_seconds

    assert posix_seconds(moments).tolist() == [_utc(moment).timestamp() for moment in moments]


@pytest.mark.database_neutral("converts values in memory; reads nothing")
def test_a_stored_time_that_is_no_time_is_refused() -> None:
    from storage.repositories.snapshots import posix_seconds

    with pytest.raises(ValueError, match="Invalid isoformat"):
        posix_seconds(["2026-03-05 12:34:56", "yesterday"])


@pytest.mark.database_neutral("converts values in memory; reads nothing")
def test_a_page_read_through_the_orm_gives_its_kinds_as_plain_text() -> None:
    from storage.repositories.snapshots import _chunk

    chunk = _chunk([(1, MEMBER, None, "t1", FeedbackKind.LIKE, None, "2026-03-05 12:34:56")])
    assert chunk.kinds == ["like"]
    assert type(chunk.kinds[0]) is str  # text, as the raw drivers give it: not the StrEnum

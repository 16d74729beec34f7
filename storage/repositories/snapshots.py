"""Bulk reads for training and serving models: the whole catalog, all feedback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AUDIO_FEATURES, Feedback, Genre, Track, TrackGenre


@dataclass(frozen=True, slots=True)
class CatalogRows:
    """Column-wise catalog, ordered by track id: one entry per track in every list.

    A track outside the catalog (added because a member played it) has every audio feature
    None: read into arrays that is a row of NaN, which content models skip (no vector, never
    offered as sounding alike) while collaborative models still learn from its plays.
    """

    ids: list[str]
    names: list[str]
    artists: list[tuple[str, ...]]
    genres: list[tuple[str, ...]]
    popularity: list[int | None]
    features: dict[str, list[float | None]]  # audio feature name -> values

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_audio_features(self) -> list[bool]:
        """Per track, whether it has audio features (False: a track outside the catalog)."""
        first = self.features.get("danceability", [])
        return [value is not None for value in first]


@dataclass(frozen=True, slots=True)
class FeedbackRows:
    """Column-wise feedback, ordered by id (the order it arrived in)."""

    ids: list[int]
    users: list[int]
    guilds: list[int | None]
    tracks: list[str]
    kinds: list[str]
    values: list[int | None]
    created_at: list[datetime]

    def __len__(self) -> int:
        return len(self.ids)


async def catalog_rows(session: AsyncSession) -> CatalogRows:
    feature_columns = [getattr(Track, name) for name in AUDIO_FEATURES]
    result = await session.execute(
        select(
            Track.id, Track.name, Track.artist_names, Track.popularity, *feature_columns
        ).order_by(Track.id)
    )
    rows = result.all()
    genre_rows = await session.execute(
        select(TrackGenre.track_id, Genre.name)
        .join(Genre, Genre.id == TrackGenre.genre_id)
        .order_by(TrackGenre.track_id, Genre.name)
    )
    genres: defaultdict[str, list[str]] = defaultdict(list)
    for track_id, genre in genre_rows:
        genres[track_id].append(genre)
    return CatalogRows(
        ids=[row[0] for row in rows],
        names=[row[1] for row in rows],
        artists=[tuple(json.loads(row[2])) for row in rows],
        genres=[tuple(genres.get(row[0], ())) for row in rows],
        popularity=[row[3] for row in rows],
        features={
            name: [row[4 + position] for row in rows]
            for position, name in enumerate(AUDIO_FEATURES)
        },
    )


async def feedback_rows(session: AsyncSession, *, guild_id: int | None = None) -> FeedbackRows:
    """All feedback, or one guild's when `guild_id` is given.

    On SQLite the rows are fetched by the driver's own thread, on PostgreSQL decoded by
    asyncpg's C protocol, and turned into columns in a worker thread: SQLAlchemy would
    build a Row and convert each value on the event loop, which stalls a bot for seconds
    at a million rows."""
    if guild_id is None and session.bind.dialect.driver in ("aiosqlite", "asyncpg"):
        return await _raw_feedback_rows(session)
    statement = select(
        Feedback.id,
        Feedback.user_id,
        Feedback.guild_id,
        Feedback.track_id,
        Feedback.kind,
        Feedback.value,
        Feedback.created_at,
    ).order_by(Feedback.id)
    if guild_id is not None:
        statement = statement.where(Feedback.guild_id == guild_id)
    rows = (await session.execute(statement)).all()
    return FeedbackRows(
        ids=[row[0] for row in rows],
        users=[row[1] for row in rows],
        guilds=[row[2] for row in rows],
        tracks=[row[3] for row in rows],
        kinds=[str(row[4].value if hasattr(row[4], "value") else row[4]) for row in rows],
        values=[row[5] for row in rows],
        created_at=[row[6] for row in rows],
    )


# Members looked up at once in `feedback_rows_of` (SQLite's limit on bound parameters).
MEMBERS_PER_QUERY = 500


async def feedback_rows_of(session: AsyncSession, user_ids: Sequence[int]) -> FeedbackRows:
    """The feedback of these members only (an indexed read: the unique indexes on feedback
    start with user_id), ordered by id: what serving one member needs, whatever the size
    of everyone else's history."""
    columns: list[Sequence[Any]] = []
    unique = sorted(set(user_ids))
    for start in range(0, len(unique), MEMBERS_PER_QUERY):
        chunk = unique[start : start + MEMBERS_PER_QUERY]
        statement = (
            select(
                Feedback.id,
                Feedback.user_id,
                Feedback.guild_id,
                Feedback.track_id,
                Feedback.kind,
                Feedback.value,
                Feedback.created_at,
            )
            .where(Feedback.user_id.in_(chunk))
            .order_by(Feedback.id)
        )
        columns.extend(tuple(row) for row in (await session.execute(statement)).all())
    columns.sort(key=lambda row: row[0])
    rows = _columns(columns)
    return dataclasses.replace(
        rows, kinds=[str(kind.value if hasattr(kind, "value") else kind) for kind in rows.kinds]
    )


_FEEDBACK_SQL = (
    "SELECT id, user_id, guild_id, track_id, kind, value, created_at FROM feedback ORDER BY id"
)


async def _raw_feedback_rows(session: AsyncSession) -> FeedbackRows:
    connection = await session.connection()  # the session's transaction, as the ORM path
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    rows: Sequence[Sequence[Any]]
    if connection.dialect.driver == "asyncpg":
        rows = await driver.fetch(_FEEDBACK_SQL)
    else:  # aiosqlite: its calls run in its own thread
        cursor = await driver.execute(_FEEDBACK_SQL)
        try:
            rows = await cursor.fetchall()
        finally:
            await cursor.close()
    return await asyncio.to_thread(_columns, rows)


def _columns(rows: Sequence[Sequence[Any]]) -> FeedbackRows:
    if not rows:
        return FeedbackRows([], [], [], [], [], [], [])
    ids, users, guilds, tracks, kinds, values, created = (
        list(column) for column in zip(*rows, strict=True)
    )
    return FeedbackRows(
        ids=ids,
        users=users,
        guilds=guilds,
        tracks=tracks,
        kinds=kinds,
        values=values,
        # SQLite: text as SQLAlchemy's DateTime stores it (UTC, without a zone; see
        # UTCDateTime); PostgreSQL: aware datetimes.
        created_at=[_utc(value) for value in created],
    )


def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

"""Bulk reads for training and serving models: the whole catalog, all feedback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import warnings
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, bindparam, select
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
    # As precise as the source (YYYY, YYYY-MM or YYYY-MM-DD), None where unknown; empty
    # for rows read from a snapshot written before release dates were kept.
    release_dates: list[str | None] = field(default_factory=list)
    # Album names, None where unknown; empty for rows read from a snapshot (training needs
    # none: they are for the bot's cards).
    albums: list[str | None] = field(default_factory=list)

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
            Track.id,
            Track.name,
            Track.artist_names,
            Track.popularity,
            Track.release_date,
            Track.album,
            *feature_columns,
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
            name: [row[6 + position] for row in rows]
            for position, name in enumerate(AUDIO_FEATURES)
        },
        release_dates=[row[4] for row in rows],
        albums=[row[5] for row in rows],
    )


# The columns of FeedbackRows, in its order: every reader of feedback rows selects these.
_ROW_COLUMNS = (
    Feedback.id,
    Feedback.user_id,
    Feedback.guild_id,
    Feedback.track_id,
    Feedback.kind,
    Feedback.value,
    Feedback.created_at,
)


async def feedback_rows(session: AsyncSession, *, guild_id: int | None = None) -> FeedbackRows:
    """All feedback, or one guild's when `guild_id` is given.

    On SQLite the rows are fetched by the driver's own thread, on PostgreSQL decoded by
    asyncpg's C protocol, and turned into columns in a worker thread: SQLAlchemy would
    build a Row and convert each value on the event loop, which stalls a bot for seconds
    at a million rows."""
    if guild_id is None and session.bind.dialect.driver in ("aiosqlite", "asyncpg"):
        return await _raw_feedback_rows(session)
    statement = select(*_ROW_COLUMNS).order_by(Feedback.id)
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
        result = await session.execute(_ROWS_OF_MEMBERS, {"users": chunk})
        columns.extend(tuple(row) for row in result.all())
    columns.sort(key=lambda row: row[0])
    rows = _columns(columns)
    return dataclasses.replace(
        rows, kinds=[str(kind.value if hasattr(kind, "value") else kind) for kind in rows.kinds]
    )


# Built once: a member's first request reads their rows with this, and building a select
# costs the event loop more than running it.
_ROWS_OF_MEMBERS = (
    select(*_ROW_COLUMNS)
    .where(Feedback.user_id.in_(bindparam("users", expanding=True)))
    .order_by(Feedback.id)
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


# Rows per chunk of `feedback_chunks`: bounds the Python objects alive at once.
CHUNK_ROWS = 200_000


@dataclass(frozen=True, slots=True)
class FeedbackChunk:
    """A page of feedback, ordered by id, for a reader that goes through every row (the
    serving engine's counts at start-up): ids and members as arrays, and each row's time as
    UTC seconds since the epoch, so no row becomes a datetime object."""

    ids: npt.NDArray[np.int64]
    users: npt.NDArray[np.int64]
    guilds: list[int | None]
    tracks: list[str]
    kinds: list[str]
    values: list[int | None]
    timestamps: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.ids)


async def feedback_chunks(
    session: AsyncSession, size: int = CHUNK_ROWS, *, since: datetime | None = None
) -> AsyncIterator[FeedbackChunk]:
    """All feedback (or that created at or after `since`), ordered by id, `size` rows at a
    time: a reader that turns each chunk into arrays never holds a million rows as Python
    objects (keyset pages on the id; each page converted in a worker thread)."""
    last = 0
    while True:
        statement = (
            select(*_ROW_COLUMNS).where(Feedback.id > last).order_by(Feedback.id).limit(size)
        )
        if since is not None:
            statement = statement.where(Feedback.created_at >= since)
        rows = await _fetch_raw(session, statement)
        if not rows:
            return
        chunk = await asyncio.to_thread(_chunk, rows)
        yield chunk
        last = int(chunk.ids[-1])
        if len(rows) < size:
            return


def _chunk(rows: Sequence[Sequence[Any]]) -> FeedbackChunk:
    ids, users, guilds, tracks, kinds, values, created = _transposed(rows, 7)
    if type(kinds[0]) is not str:  # the ORM's StrEnum (a driver without a raw path)
        kinds = [str(getattr(kind, "value", kind)) for kind in kinds]
    return FeedbackChunk(
        ids=np.asarray(ids, dtype=np.int64),
        users=np.asarray(users, dtype=np.int64),
        guilds=guilds,
        tracks=tracks,
        kinds=kinds,
        values=values,
        timestamps=posix_seconds(created),
    )


def posix_seconds(moments: Sequence[str | datetime]) -> npt.NDArray[np.float64]:
    """Stored times as UTC seconds since the epoch, each as `_utc(moment).timestamp()`.

    SQLite's text (UTC, without a zone; see UTCDateTime) is parsed in one NumPy call, 30
    times faster than a datetime per row at start-up's millions of rows; anything NumPy
    would not read exactly as `_utc` does (PostgreSQL's aware datetimes, text with an
    offset) goes row by row."""
    if moments and all(isinstance(moment, str) for moment in moments):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # a zone offset: NumPy only warns
                parsed = np.array(moments, dtype="datetime64[us]")
        except (ValueError, UserWarning):
            pass
        else:
            return parsed.astype(np.int64) / 1e6
    return np.fromiter(
        (_utc(moment).timestamp() for moment in moments), dtype=np.float64, count=len(moments)
    )


async def _fetch_raw(session: AsyncSession, statement: Select[Any]) -> Sequence[Sequence[Any]]:
    """The statement's rows as the driver gives them (SQLite: its own thread; PostgreSQL:
    asyncpg's C protocol), without SQLAlchemy building a Row per row on the event loop."""
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.driver not in ("aiosqlite", "asyncpg"):
        return [tuple(row) for row in (await session.execute(statement)).all()]
    compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": False})
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    parameters = compiled.construct_params()
    if dialect.driver == "asyncpg":
        positions = compiled.positiontup or []
        return await driver.fetch(str(compiled), *[parameters[name] for name in positions])
    positions = compiled.positiontup or []
    values = [_sqlite_value(parameters[name]) for name in positions]
    cursor = await driver.execute(str(compiled), values)
    try:
        return await cursor.fetchall()
    finally:
        await cursor.close()


def _sqlite_value(value: Any) -> Any:
    """A parameter as SQLAlchemy's DateTime stores it in SQLite (UTC, naive, microseconds),
    so comparisons with stored times hold."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _columns(rows: Sequence[Sequence[Any]]) -> FeedbackRows:
    if not rows:
        return FeedbackRows([], [], [], [], [], [], [])
    ids, users, guilds, tracks, kinds, values, created = _transposed(rows, 7)
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


def _transposed(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """The rows' columns, one C loop per column: `zip(*rows)` over a page of 200,000 rows
    is several times slower (it steps 200,000 iterators in turn)."""
    return [list(map(itemgetter(column), rows)) for column in range(width)]


def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

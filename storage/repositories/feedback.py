"""Members' opinions of tracks: reactions, buttons, commands and imports.

Writes are idempotent, because Discord may deliver a gateway event more than once: the
unique indexes on `feedback` decide what counts as "the same" event (see the model's
docstring), and `INSERT ... ON CONFLICT` applies that rule without a read-then-write race.
Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, delete, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from storage import known_rows
from storage.dialect import built_once, upsert_insert
from storage.errors import StorageError
from storage.models import Feedback, FeedbackKind, FeedbackSource, Track, utcnow
from storage.repositories.changes import note_changes, watched
from storage.repositories.people import (
    check_aware,
    check_snowflake,
    ensure_guild,
    ensure_people,
    ensure_user,
    insert_or_ignore,
)
from storage.repositories.tracks import known_track_ids

RATING_MIN = 1
RATING_MAX = 5
MAX_PAGE = 100

E = TypeVar("E", FeedbackKind, FeedbackSource)


class UnknownTrackError(StorageError):
    """A track id that is not in the catalog."""

    def __init__(self, track_id: str) -> None:
        super().__init__(
            f"track {track_id!r} is not in the catalog; import it first or check the id"
        )
        self.track_id = track_id


async def check_tracks_known(session: AsyncSession, track_ids: set[str]) -> None:
    """UnknownTrackError naming the first of `track_ids` (in order) the catalog lacks. Only
    ids this process has not seen committed are looked up: a write's tracks are usually
    the ones its card showed, checked when that card was stored."""
    asked = known_rows.unknown(session, "tracks", track_ids)
    if missing := sorted(asked - await known_track_ids(session, asked)):
        raise UnknownTrackError(missing[0])
    known_rows.remember(session, "tracks", asked)


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackEvent:
    """One opinion to record. `guild_id` is None in DMs; `message_id` is None for commands
    and imports; `value` is the stars of a rating and None otherwise; `created_at` None
    means now."""

    user_id: int
    guild_id: int | None
    track_id: str
    kind: FeedbackKind
    source: FeedbackSource
    message_id: int | None = None
    value: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedbackRecord:
    """One stored opinion."""

    id: int
    user_id: int
    guild_id: int | None
    track_id: str
    kind: FeedbackKind
    source: FeedbackSource
    message_id: int | None
    value: int | None
    created_at: datetime


def _enum_member(cls: type[E], value: object) -> E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown feedback {cls.__name__}: {value!r} (one of {allowed})") from None


def _validate(event: FeedbackEvent) -> tuple[FeedbackKind, FeedbackSource]:
    """The event's kind and source as enums, or ValueError naming what is wrong."""
    check_snowflake(event.user_id, "user id")
    if event.guild_id is not None:
        check_snowflake(event.guild_id, "guild id")
    if event.message_id is not None:
        check_snowflake(event.message_id, "message id")
    if not isinstance(event.track_id, str) or not event.track_id:
        raise ValueError(f"track id must be a non-empty string, got {event.track_id!r}")
    kind = _enum_member(FeedbackKind, event.kind)
    source = _enum_member(FeedbackSource, event.source)
    value = event.value
    if kind is FeedbackKind.RATING:
        if value is None:
            raise ValueError(f"a rating needs a value from {RATING_MIN} to {RATING_MAX}")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"a rating value must be an integer, got {value!r}")
        if not RATING_MIN <= value <= RATING_MAX:
            raise ValueError(f"a rating must be from {RATING_MIN} to {RATING_MAX}, got {value}")
    elif value is not None:
        raise ValueError(f"only ratings carry a value; {kind.value} got {value!r}")
    check_aware(event.created_at, "feedback created_at")
    return kind, source


async def _require_track(session: AsyncSession, track_id: str) -> None:
    # Asked explicitly: a foreign-key failure would say neither which key nor which id.
    if await session.scalar(select(Track.id).where(Track.id == track_id)) is None:
        raise UnknownTrackError(track_id)


async def record_feedback(session: AsyncSession, event: FeedbackEvent) -> bool:
    """Store `event`; whether the database changed.

    A repeat of a stored event (same user, message, track, kind and source; or, without a
    message, same user, track, kind and source) is a no-op returning False. A rating with
    the same key replaces the stored stars, returning True only when they differ.
    Raises ValueError for a malformed event and UnknownTrackError for a track not in the
    catalog.
    """
    kind, source = _validate(event)
    await _require_track(session, event.track_id)
    await ensure_user(session, event.user_id)
    if event.guild_id is not None:
        await ensure_guild(session, event.guild_id)

    table = Feedback.__table__
    statement = insert_or_ignore(session, table).values(
        user_id=event.user_id,
        guild_id=event.guild_id,
        track_id=event.track_id,
        kind=kind,
        source=source,
        message_id=event.message_id,
        value=event.value,
        created_at=event.created_at or utcnow(),
    )
    # The conflict target must name the partial unique index the row falls under.
    if event.message_id is None:
        target: dict[str, Any] = {
            "index_elements": [table.c.user_id, table.c.track_id, table.c.kind, table.c.source],
            "index_where": table.c.message_id.is_(None),
        }
    else:
        target = {
            "index_elements": [
                table.c.user_id,
                table.c.message_id,
                table.c.track_id,
                table.c.kind,
                table.c.source,
            ],
            "index_where": table.c.message_id.is_not(None),
        }
    replaced: list[Any] = []
    if kind is FeedbackKind.RATING:
        if watched(session):  # the stars this replaces, for whoever keeps a log
            replaced = list(
                (
                    await session.execute(
                        select(*_change_columns()).where(
                            table.c.user_id == event.user_id,
                            _same_message(event.message_id),
                            table.c.track_id == event.track_id,
                            table.c.kind == kind,
                            table.c.source == source,
                            table.c.value.is_distinct_from(event.value),
                        )
                    )
                ).all()
            )
        statement = statement.on_conflict_do_update(
            **target,
            set_={
                "value": statement.excluded.value,
                "guild_id": statement.excluded.guild_id,
                # The time of the opinion now stored, so snapshots pick the change up.
                "created_at": statement.excluded.created_at,
            },
            where=table.c.value.is_distinct_from(statement.excluded.value),
        )
    else:
        statement = statement.on_conflict_do_nothing(**target)
    # RETURNING yields a row only when a row was inserted or updated.
    row = (await session.execute(statement.returning(*_change_columns()))).first()
    if row is None:
        return False
    note_changes(session, replaced, added=False)
    note_changes(session, [row], added=True)
    return True


def _change_columns() -> list[Any]:
    table = Feedback.__table__
    return [
        table.c.id,
        table.c.user_id,
        table.c.guild_id,
        table.c.track_id,
        table.c.kind,
        table.c.value,
        table.c.created_at,
    ]


def _same_message(message_id: int | None) -> ColumnElement[bool]:
    if message_id is None:
        return Feedback.message_id.is_(None)
    return Feedback.message_id == message_id


async def record_feedback_many(
    session: AsyncSession, events: Sequence[FeedbackEvent]
) -> list[bool]:
    """Store many like/love/dislike/skip events in a few statements; for each, whether it
    was new (as `record_feedback`: a stored repeat, or a repeat earlier in `events`, is a
    no-op). Ratings replace stars, so they go through `record_feedback` one at a time.
    Raises ValueError or UnknownTrackError, storing nothing, when any event is bad."""
    if not events:
        return []
    now = await prepare_many(session, events)
    inserted: set[tuple[Any, ...]] = set()
    for bound in (True, False):
        part = [e for e in events if (e.message_id is not None) == bound]
        if not part:
            continue
        # One cached statement run with many parameter sets (SQLAlchemy's "insertmanyvalues"
        # batches them into multi-row INSERTs): compiled once per process, not once per
        # batch, so a burst of reactions costs the loop little Python.
        rows = (
            await session.execute(
                _bulk_insert(session, bound),
                [
                    {
                        "user_id": e.user_id,
                        "guild_id": e.guild_id,
                        "track_id": e.track_id,
                        "kind": FeedbackKind(e.kind),
                        "source": FeedbackSource(e.source),
                        "message_id": e.message_id,
                        "value": None,
                        "created_at": e.created_at or now,
                    }
                    for e in part
                ],
            )
        ).all()
        note_changes(session, (row[:7] for row in rows), added=True)
        for row in rows:
            inserted.add(_key(row.user_id, row.message_id, row.track_id, row.kind, row.source))
    results = []
    for event in events:
        key = _key(event.user_id, event.message_id, event.track_id, event.kind, event.source)
        results.append(key in inserted)
        inserted.discard(key)  # a repeat later in `events` is a no-op
    return results


def _bulk_insert(session: AsyncSession, bound: bool) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING of one feedback row, for executemany:
    `bound` for rows of a card (message id set), which have their own unique index."""

    def build(dialect: Dialect) -> Any:
        table = Feedback.__table__
        key_columns = [table.c.user_id, table.c.track_id, table.c.kind, table.c.source]
        if bound:
            key_columns.insert(1, table.c.message_id)
        where = table.c.message_id.is_not(None) if bound else table.c.message_id.is_(None)
        return (
            upsert_insert(dialect, table)
            .on_conflict_do_nothing(index_elements=key_columns, index_where=where)
            .returning(*_change_columns(), table.c.message_id, table.c.source)
        )

    dialect = session.get_bind().dialect
    return built_once(dialect, f"feedback bulk insert, bound={bound}", build)


async def prepare_many(session: AsyncSession, events: Sequence[FeedbackEvent]) -> datetime:
    """What every bulk write needs first: each event valid and no rating, each track in the
    catalog, each member and guild stored. Returns the time that stands for "now"."""
    for event in events:
        kind, _ = _validate(event)
        if kind is FeedbackKind.RATING:
            raise ValueError("ratings replace stars: store them with record_feedback")
    await check_tracks_known(session, {event.track_id for event in events})
    now = utcnow()
    await ensure_people(
        session,
        {e.user_id for e in events},
        {e.guild_id for e in events if e.guild_id is not None},
        now,
    )
    return now


# Rows per executemany: bounds the parameter lists held at once, not the transaction.
BATCH_ROWS = 50_000


async def insert_ignoring(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of `rows`, executemany in batches."""
    if not rows:
        return
    statement = built_once(
        session.get_bind().dialect,
        f"insert ignoring into {table.name}",
        lambda dialect: upsert_insert(dialect, table).on_conflict_do_nothing(),
    )
    for start in range(0, len(rows), BATCH_ROWS):
        await session.execute(statement, rows[start : start + BATCH_ROWS])


def _key(user: int, message: int | None, track: str, kind: Any, source: Any) -> tuple[Any, ...]:
    return (user, message, track, FeedbackKind(kind), FeedbackSource(source))


async def liked_on_message(
    session: AsyncSession, user_id: int, message_id: int, track_id: str
) -> bool:
    """Whether the member liked or loved `track_id` on that message (reaction or button)."""
    found = await session.scalar(
        select(Feedback.id)
        .where(
            Feedback.user_id == user_id,
            Feedback.message_id == message_id,
            Feedback.track_id == track_id,
            Feedback.kind.in_([FeedbackKind.LIKE, FeedbackKind.LOVE]),
        )
        .limit(1)
    )
    return found is not None


async def remove_feedback(
    session: AsyncSession,
    user_id: int,
    message_id: int | None,
    track_id: str,
    kind: FeedbackKind,
    source: FeedbackSource,
) -> bool:
    """Delete exactly the row that event made (a removed reaction, an /unlike); whether
    one existed. `message_id` None removes the feedback given without a message."""
    check_snowflake(user_id, "user id")
    kind = _enum_member(FeedbackKind, kind)
    source = _enum_member(FeedbackSource, source)
    message: ColumnElement[bool]
    if message_id is None:
        message = Feedback.message_id.is_(None)
    else:
        message = Feedback.message_id == check_snowflake(message_id, "message id")
    result = await session.execute(
        delete(Feedback)
        .where(
            Feedback.user_id == user_id,
            message,
            Feedback.track_id == track_id,
            Feedback.kind == kind,
            Feedback.source == source,
        )
        .returning(*_change_columns())
    )
    removed = result.all()
    note_changes(session, removed, added=False)
    return len(removed) > 0


def _record(row: Row[Any]) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id,
        user_id=row.user_id,
        guild_id=row.guild_id,
        track_id=row.track_id,
        kind=row.kind,
        source=row.source,
        message_id=row.message_id,
        value=row.value,
        created_at=row.created_at,
    )


def _select_records() -> Select[Any]:
    # Columns, not entities: the identity map could hold rows another statement changed.
    return select(
        Feedback.id,
        Feedback.user_id,
        Feedback.guild_id,
        Feedback.track_id,
        Feedback.kind,
        Feedback.source,
        Feedback.message_id,
        Feedback.value,
        Feedback.created_at,
    )


async def user_feedback(
    session: AsyncSession, user_id: int, *, limit: int = 20, offset: int = 0
) -> list[FeedbackRecord]:
    """One page of the user's feedback, newest first (for /history); at most 100 rows."""
    check_snowflake(user_id, "user id")
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must not be negative, got {limit} and {offset}")
    result = await session.execute(
        _select_records()
        .where(Feedback.user_id == user_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(min(limit, MAX_PAGE))
        .offset(offset)
    )
    return [_record(row) for row in result]


async def count_user_feedback(session: AsyncSession, user_id: int) -> int:
    check_snowflake(user_id, "user id")
    count = await session.scalar(
        select(func.count()).select_from(Feedback).where(Feedback.user_id == user_id)
    )
    return count or 0


async def feedback_since(session: AsyncSession, since: datetime | None) -> list[FeedbackRecord]:
    """Feedback created (or, for ratings, last changed) at or after `since`, by id.

    `since` None means all. The bound is inclusive, so a row stamped exactly at the previous
    snapshot's time is not lost; a snapshot keyed by id absorbs the overlap.
    """
    statement = _select_records().order_by(Feedback.id)
    if check_aware(since, "since") is not None:
        statement = statement.where(Feedback.created_at >= since)
    result = await session.execute(statement)
    return [_record(row) for row in result]


async def count_feedback(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Feedback)) or 0


async def count_feedback_after(session: AsyncSession, feedback_id: int) -> int:
    """Feedback rows that arrived after the row `feedback_id` (ids grow with arrival)."""
    return int(
        await session.scalar(
            select(func.count()).select_from(Feedback).where(Feedback.id > feedback_id)
        )
        or 0
    )

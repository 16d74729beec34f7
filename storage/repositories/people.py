"""Members and servers: the rows feedback hangs off, and a member's data on request.

Nothing here commits: the caller owns the transaction, so a feedback write and the user row
it needs land together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from storage import known_rows
from storage.dialect import built_once, upsert_insert
from storage.models import (
    Feedback,
    Guild,
    ListeningOptIn,
    Play,
    RecommendationServed,
    User,
    utcnow,
)
from storage.repositories.changes import CHANGE_COLUMNS, note_changes, watched

# Discord snowflakes are unsigned 64-bit, but the columns are signed BIGINT; real ids stay
# below 2**63 until about 2084.
MAX_SNOWFLAKE = 2**63 - 1
# Discord caps server names at 100 characters, as does the column (PostgreSQL enforces it).
MAX_GUILD_NAME = 100


def check_snowflake(value: object, what: str) -> int:
    """`value` as a Discord id, or ValueError saying which id is wrong."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer Discord id, got {value!r}")
    if not 0 < value <= MAX_SNOWFLAKE:
        raise ValueError(f"{what} {value} is outside the range of Discord ids (1..2**63-1)")
    return value


def check_aware(value: datetime | None, what: str) -> datetime | None:
    """`value` unchanged, or ValueError when it carries no timezone."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{what} is a naive datetime; pass an aware one (e.g. UTC)")
    return value


def insert_or_ignore(session: AsyncSession, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the dialect the session is bound to."""
    return upsert_insert(session.get_bind().dialect, table)


async def ensure_user(session: AsyncSession, user_id: int) -> None:
    """Create the user row if it is missing; a no-op otherwise."""
    check_snowflake(user_id, "user id")
    await _insert_if_missing(session, User.__table__, {"id": user_id, "created_at": utcnow()})


async def ensure_people(
    session: AsyncSession, users: set[int], guilds: set[int], now: datetime | None = None
) -> None:
    """The member and server rows a batch of feedback or picks hangs off, created where
    missing (`now` their creation time). Ids this process has seen committed are not
    written again (storage.known_rows); the ids must be valid snowflakes already."""
    now = now or utcnow()
    new_users = known_rows.unknown(session, "users", users)
    await _insert_if_missing(
        session, User.__table__, [{"id": u, "created_at": now} for u in new_users]
    )
    known_rows.remember(session, "users", users)
    new_guilds = known_rows.unknown(session, "guilds", guilds)
    await _insert_if_missing(
        session, Guild.__table__, [{"id": g, "name": None, "created_at": now} for g in new_guilds]
    )
    known_rows.remember(session, "guilds", guilds)


async def _insert_if_missing(
    session: AsyncSession, table: Table, rows: dict[str, Any] | list[dict[str, Any]]
) -> None:
    """INSERT each row unless one with its id exists: what every write of feedback or picks
    asks for its member and guild, so the statement is built once per dialect."""
    if not rows:
        return

    def build(dialect: Dialect) -> Any:
        return upsert_insert(dialect, table).on_conflict_do_nothing(index_elements=[table.c.id])

    statement = built_once(session.get_bind().dialect, f"insert if missing: {table.name}", build)
    await session.execute(statement, rows)


async def ensure_guild(session: AsyncSession, guild_id: int, name: str | None = None) -> None:
    """Create the guild row if it is missing; a given name replaces the stored one.

    Without a name an existing name is kept, so callers that only know the id never erase it.
    """
    check_snowflake(guild_id, "guild id")
    if name is None:
        row = {"id": guild_id, "name": None, "created_at": utcnow()}
        await _insert_if_missing(session, Guild.__table__, row)
        return
    table = Guild.__table__
    statement = insert_or_ignore(session, table).values(
        id=guild_id, name=name[:MAX_GUILD_NAME], created_at=utcnow()
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={"name": statement.excluded.name},
        # Skip the write when nothing changed: no needless row version on PostgreSQL.
        where=table.c.name.is_distinct_from(statement.excluded.name),
    )
    await session.execute(statement)


async def delete_user_data(session: AsyncSession, user_id: int) -> dict[str, int]:
    """Delete every row about the user; the number deleted per table (backs /forget-me).

    Rows are deleted explicitly rather than left to ON DELETE CASCADE, so the counts are
    real and the result does not depend on SQLite's foreign_keys pragma.
    """
    check_snowflake(user_id, "user id")
    known_rows.forget(session, "users", user_id)
    counts: dict[str, int] = {}
    if watched(session):  # whoever keeps a log of feedback rows sees every one of them go
        table = Feedback.__table__
        removed = await session.execute(
            delete(Feedback)
            .where(Feedback.user_id == user_id)
            .returning(*(table.c[name] for name in CHANGE_COLUMNS))
        )
        rows = removed.all()
        note_changes(session, rows, added=False)
        counts[Feedback.__tablename__] = len(rows)
    for model, column in (
        (Feedback, Feedback.user_id),
        (RecommendationServed, RecommendationServed.user_id),
        (Play, Play.user_id),
        (ListeningOptIn, ListeningOptIn.user_id),
        (User, User.id),
    ):
        result = await session.execute(delete(model).where(column == user_id))
        counts[model.__tablename__] = counts.get(model.__tablename__, 0) + result.rowcount
    return counts


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value: int | None) -> str | None:
    # Snowflakes as strings, like Discord's own API: JSON readers that use doubles would
    # round anything above 2**53.
    return str(value) if value is not None else None


async def export_user_data(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """Everything stored about the user as JSON-ready data (backs /export-me): feedback,
    cards shown, plays (oldest first) and the listening opt-in.

    Ids are strings and times ISO 8601 UTC; an unknown user gets empty lists.
    """
    check_snowflake(user_id, "user id")
    created = await session.scalar(select(User.created_at).where(User.id == user_id))
    feedback = await session.execute(
        select(Feedback).where(Feedback.user_id == user_id).order_by(Feedback.id)
    )
    served = await session.execute(
        select(RecommendationServed)
        .where(RecommendationServed.user_id == user_id)
        .order_by(RecommendationServed.id)
    )
    listening_since = await session.scalar(
        select(ListeningOptIn.enabled_at).where(ListeningOptIn.user_id == user_id)
    )
    plays = await session.execute(
        select(Play.track_id, Play.played_at, Play.ms_played, Play.skipped, Play.source)
        .where(Play.user_id == user_id)
        .order_by(Play.played_at, Play.id)
    )
    return {
        "user_id": _id(user_id),
        "user_created_at": _iso(created),
        "exported_at": _iso(utcnow()),
        "feedback": [
            {
                "track_id": row.track_id,
                "kind": row.kind.value,
                "value": row.value,
                "source": row.source.value,
                "guild_id": _id(row.guild_id),
                "message_id": _id(row.message_id),
                "created_at": _iso(row.created_at),
            }
            for row in feedback.scalars()
        ],
        "recommendations_served": [
            {
                "track_id": row.track_id,
                "position": row.position,
                "guild_id": _id(row.guild_id),
                "channel_id": _id(row.channel_id),
                "message_id": _id(row.message_id),
                "model_kind": row.model_kind,
                "model_version": row.model_version,
                "reason": row.reason,
                "created_at": _iso(row.created_at),
            }
            for row in served.scalars()
        ],
        "listening": {"enabled": listening_since is not None, "since": _iso(listening_since)},
        "plays": [
            {
                "track_id": row.track_id,
                "played_at": _iso(row.played_at),
                "ms_played": row.ms_played,
                "skipped": row.skipped,
                "source": row.source.value,
            }
            for row in plays
        ],
    }

"""What the bot showed on which message, so a later reaction maps back to a track.

A card holds several picks (positions 0..n-1) but shows one at a time: `shown_at` marks the
picks the card has shown, and a reaction counts for the latest of them (`shown_pick`).

Recording the same (message_id, position) again replaces the stored row: the bot may edit
a message to show other tracks (a reroll, a next page), and a reaction must then map to
what the message shows now. A retried write of the same items is therefore harmless too.
Nothing here commits; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import built_once, upsert_insert
from storage.models import RecommendationServed, utcnow
from storage.repositories.feedback import check_tracks_known
from storage.repositories.people import (
    check_aware,
    check_snowflake,
    ensure_people,
)

MAX_POSITION = 32_767  # SMALLINT
MAX_MODEL_KIND = 32
MAX_MODEL_VERSION = 64
MAX_REASON = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedItem:
    """One track served at `position` (0 first) on a message.

    `shown_at` is when the message first showed it (None: not shown yet, a later pick of a
    card). `created_at` None on input means now; stored items always carry it.
    """

    message_id: int
    channel_id: int | None
    guild_id: int | None
    user_id: int
    track_id: str
    position: int
    model_kind: str
    model_version: str | None = None
    reason: str | None = None
    shown_at: datetime | None = None
    created_at: datetime | None = None


def _validate(item: ServedItem) -> None:
    check_snowflake(item.message_id, "message id")
    check_snowflake(item.user_id, "user id")
    if item.channel_id is not None:
        check_snowflake(item.channel_id, "channel id")
    if item.guild_id is not None:
        check_snowflake(item.guild_id, "guild id")
    if isinstance(item.position, bool) or not isinstance(item.position, int):
        raise ValueError(f"position must be an integer, got {item.position!r}")
    if not 0 <= item.position <= MAX_POSITION:
        raise ValueError(f"position must be from 0 to {MAX_POSITION}, got {item.position}")
    if not item.model_kind or len(item.model_kind) > MAX_MODEL_KIND:
        raise ValueError(f"model kind must be 1 to {MAX_MODEL_KIND} characters")
    if item.model_version is not None and len(item.model_version) > MAX_MODEL_VERSION:
        raise ValueError(f"model version must be at most {MAX_MODEL_VERSION} characters")
    check_aware(item.created_at, "served created_at")
    check_aware(item.shown_at, "served shown_at")


def _short(reason: str | None) -> str | None:
    # An explanation is for people; cut a long one rather than lose the whole record.
    if reason is None or len(reason) <= MAX_REASON:
        return reason
    return reason[: MAX_REASON - 1] + "…"


async def record_served(session: AsyncSession, items: Sequence[ServedItem]) -> None:
    """Store the tracks shown on messages; an existing (message_id, position) is replaced.

    Raises ValueError for a malformed item or a position given twice in one call, and
    UnknownTrackError when a track is not in the catalog.
    """
    if not items:
        return
    for item in items:
        _validate(item)
    keys = [(item.message_id, item.position) for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError("the same (message_id, position) appears twice in one call")

    await check_tracks_known(session, {item.track_id for item in items})
    await ensure_people(
        session,
        {item.user_id for item in items},
        {item.guild_id for item in items if item.guild_id is not None},
    )

    now = utcnow()
    rows = [
        {
            "message_id": item.message_id,
            "channel_id": item.channel_id,
            "guild_id": item.guild_id,
            "user_id": item.user_id,
            "track_id": item.track_id,
            "position": item.position,
            "model_kind": item.model_kind,
            "model_version": item.model_version,
            "reason": _short(item.reason),
            "shown_at": item.shown_at,
            "created_at": item.created_at or now,
        }
        for item in items
    ]
    await session.execute(
        built_once(session.get_bind().dialect, "served upsert", _served_upsert), rows
    )


# The columns an existing (message_id, position) gets from a new row: all but its key.
_SERVED_REPLACED = (
    "channel_id",
    "guild_id",
    "user_id",
    "track_id",
    "model_kind",
    "model_version",
    "reason",
    "shown_at",
    "created_at",
)


def _served_upsert(dialect: Dialect) -> Any:
    table = RecommendationServed.__table__
    statement = upsert_insert(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.message_id, table.c.position],
        set_={name: statement.excluded[name] for name in _SERVED_REPLACED},
    )


def _recently_served() -> Select[Any]:
    # Built once: /recommend reads this for every request (the statement costs the event
    # loop more to build than to run).
    return (
        _select_items()
        .where(RecommendationServed.user_id == bindparam("user_id"))
        .order_by(
            RecommendationServed.created_at.desc(),
            RecommendationServed.message_id.desc(),
            RecommendationServed.position,
        )
        .limit(bindparam("limit"))
    )


def _select_items() -> Select[Any]:
    # Columns, not entities: the identity map could hold rows an upsert has since replaced.
    return select(
        RecommendationServed.message_id,
        RecommendationServed.channel_id,
        RecommendationServed.guild_id,
        RecommendationServed.user_id,
        RecommendationServed.track_id,
        RecommendationServed.position,
        RecommendationServed.model_kind,
        RecommendationServed.model_version,
        RecommendationServed.reason,
        RecommendationServed.shown_at,
        RecommendationServed.created_at,
    )


def _item(row: Row[Any]) -> ServedItem:
    return ServedItem(**row._asdict())


async def served_track(
    session: AsyncSession, message_id: int, position: int = 0
) -> ServedItem | None:
    """The track shown at `position` on the message, or None if the bot did not show one."""
    check_snowflake(message_id, "message id")
    result = await session.execute(
        _select_items().where(
            RecommendationServed.message_id == message_id,
            RecommendationServed.position == position,
        )
    )
    row = result.first()
    return _item(row) if row is not None else None


async def served_for_message(session: AsyncSession, message_id: int) -> list[ServedItem]:
    """Every track shown on the message, by position."""
    check_snowflake(message_id, "message id")
    result = await session.execute(
        _select_items()
        .where(RecommendationServed.message_id == message_id)
        .order_by(RecommendationServed.position)
    )
    return [_item(row) for row in result]


async def recently_served(session: AsyncSession, user_id: int, limit: int = 50) -> list[ServedItem]:
    """The user's most recently shown tracks, newest first (to avoid repeating them)."""
    check_snowflake(user_id, "user id")
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    result = await session.execute(_RECENTLY_SERVED, {"user_id": user_id, "limit": limit})
    return [_item(row) for row in result]


async def mark_shown(
    session: AsyncSession, message_id: int, position: int, at: datetime | None = None
) -> bool:
    """Record that the message now shows the pick at `position`; whether that pick exists.

    The first time counts: marking a pick again keeps its original `shown_at`.
    """
    check_snowflake(message_id, "message id")
    check_aware(at, "shown_at")
    result = await session.execute(
        update(RecommendationServed)
        .where(
            RecommendationServed.message_id == message_id,
            RecommendationServed.position == position,
        )
        .values(shown_at=func.coalesce(RecommendationServed.shown_at, at or utcnow()))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount > 0


async def shown_pick(session: AsyncSession, message_id: int) -> ServedItem | None:
    """The pick the message shows now (its highest shown position), or None when the
    message is no card or has shown nothing."""
    check_snowflake(message_id, "message id")
    result = await session.execute(
        _select_items()
        .where(
            RecommendationServed.message_id == message_id,
            RecommendationServed.shown_at.is_not(None),
        )
        .order_by(RecommendationServed.position.desc())
        .limit(1)
    )
    row = result.first()
    return _item(row) if row is not None else None


_RECENTLY_SERVED = _recently_served()

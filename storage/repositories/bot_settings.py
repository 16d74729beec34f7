"""Settings admins change while the bot runs (e.g. the daily training time), as text by key.

The caller parses and validates values; this only stores them. Nothing here commits: the
caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BotSetting, utcnow
from storage.repositories.people import insert_or_ignore

MAX_KEY = 64
MAX_VALUE = 1024


def _check(key: str, value: str | None = None) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise ValueError(f"setting key must be a string of 1 to {MAX_KEY} characters: {key!r}")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_VALUE):
        raise ValueError(f"setting value must be a string of at most {MAX_VALUE} characters")


async def get_setting(session: AsyncSession, key: str) -> str | None:
    """The stored value of `key`, or None when it was never set."""
    _check(key)
    return await session.scalar(select(BotSetting.value).where(BotSetting.key == key))


async def set_setting(session: AsyncSession, key: str, value: str) -> None:
    """Store `value` under `key`, replacing any earlier value."""
    _check(key, value)
    table = BotSetting.__table__
    statement = insert_or_ignore(session, table).values(key=key, value=value, updated_at=utcnow())
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )

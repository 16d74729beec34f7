"""Run-time bot settings: stored by key, replaced on a second write, visible after commit."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.repositories.bot_settings import MAX_KEY, MAX_VALUE, get_setting, set_setting


async def test_an_unset_key_reads_as_none(session: AsyncSession) -> None:
    assert await get_setting(session, "training_time") is None


async def test_a_second_write_replaces_the_value(database: Database) -> None:
    async with database.sessions() as session:
        await set_setting(session, "training_time", "04:00")
        await set_setting(session, "other", "kept")
        await session.commit()
    async with database.sessions() as session:
        await set_setting(session, "training_time", "03:30")
        await session.commit()
    async with database.sessions() as session:
        assert await get_setting(session, "training_time") == "03:30"
        assert await get_setting(session, "other") == "kept"


async def test_an_uncommitted_write_is_not_kept(database: Database) -> None:
    async with database.sessions() as session:
        await set_setting(session, "training_time", "03:30")
        await session.rollback()
    async with database.sessions() as session:
        assert await get_setting(session, "training_time") is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("", "x"), ("k" * (MAX_KEY + 1), "x"), ("key", "v" * (MAX_VALUE + 1)), ("key", 3)],
)
async def test_bad_keys_and_values_are_refused(
    session: AsyncSession, key: str, value: object
) -> None:
    with pytest.raises(ValueError, match="setting"):
        await set_setting(session, key, value)  # type: ignore[arg-type]

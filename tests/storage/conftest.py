"""Fixtures for repository tests: a session on the fresh database and catalog tracks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Track
from tests.factories import track_id


def new_track(number: int, name: str | None = None) -> Track:
    return Track(
        id=track_id(number),
        name=name or f"Song {number}",
        artist_names=json.dumps([f"Artist {number}"]),
        danceability=0.5,
        energy=0.6,
        key=5,
        loudness=-7.5,
        mode=1,
        speechiness=0.04,
        acousticness=0.2,
        instrumentalness=0.0,
        liveness=0.1,
        valence=0.7,
        tempo=120.0,
    )


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    async with database.sessions() as session:
        yield session


@pytest.fixture
async def tracks(database: Database) -> list[str]:
    """Three committed catalog tracks; their ids."""
    async with database.sessions() as session, session.begin():
        session.add_all(new_track(number) for number in range(1, 4))
    return [track_id(number) for number in range(1, 4)]

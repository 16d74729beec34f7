"""The catalog's genres, for genre options."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database
from storage.models import Genre, TrackGenre
from storage.repositories.genres import GenreCount, find_genre, genres_by_size
from tests.storage.conftest import new_track


async def add_genres(database: Database, genres_by_track: dict[int, list[str]]) -> None:
    async with database.sessions() as session, session.begin():
        names = sorted({name for names in genres_by_track.values() for name in names})
        genres = {name: Genre(name=name) for name in [*names, "empty genre"]}
        session.add_all(genres.values())
        session.add_all(new_track(number) for number in genres_by_track)
        await session.flush()
        session.add_all(
            TrackGenre(track_id=track.id, genre_id=genres[name].id)
            for number, names in genres_by_track.items()
            for track in [new_track(number)]
            for name in names
        )


async def test_genres_biggest_first_without_empty_ones(database: Database, session: AsyncSession):
    await add_genres(database, {1: ["rock", "indie"], 2: ["rock"], 3: ["pop"], 4: ["Rock Pop"]})
    assert await genres_by_size(session) == [
        GenreCount("rock", 2),
        GenreCount("Rock Pop", 1),
        GenreCount("indie", 1),
        GenreCount("pop", 1),
    ]


async def test_no_genres_in_an_empty_catalog(session: AsyncSession):
    assert await genres_by_size(session) == []


async def test_find_genre_ignores_case_and_spaces(database: Database, session: AsyncSession):
    await add_genres(database, {1: ["Hip Hop"], 2: ["pop"]})
    assert await find_genre(session, "  hip hop ") == "Hip Hop"
    assert await find_genre(session, "POP") == "pop"
    assert await find_genre(session, "hip") is None
    assert await find_genre(session, "   ") is None

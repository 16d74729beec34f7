"""The Spotify cache: upserts, "not found" entries, and only catalog tracks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import SpotifyTrackInfo
from storage.repositories.spotify import (
    MAX_ARTIST_NAMES,
    MAX_NAME,
    SpotifyInfo,
    cached_spotify_info,
    store_spotify_info,
)
from tests.factories import track_id

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def info(track: str, **changes: object) -> SpotifyInfo:
    values: dict[str, object] = {
        "track_id": track,
        "name": "Halo",
        "artists": ("Beyoncé",),
        "album": "I Am... Sasha Fierce",
        "album_art_url": f"https://i.scdn.co/image/{track}",
        "track_url": f"https://open.spotify.com/track/{track}",
    }
    values.update(changes)
    return SpotifyInfo(**values)  # type: ignore[arg-type]


async def rows(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(SpotifyTrackInfo)) or 0


async def test_found_and_not_found_round_trip(session: AsyncSession, tracks: list[str]):
    first, second, never = tracks
    written = await store_spotify_info(session, {first: info(first), second: None}, fetched_at=WHEN)

    cached = await cached_spotify_info(session, [first, second, never])

    assert written == 2
    assert set(cached) == {first, second, never}
    assert cached[first] is not None
    assert cached[first].info == info(first)
    assert cached[first].fetched_at == WHEN
    assert cached[second] is not None
    assert cached[second].info is None  # Spotify does not know it: cached as such
    assert cached[never] is None  # never asked


async def test_storing_again_replaces_the_entry(session: AsyncSession, tracks: list[str]):
    track = tracks[0]
    await store_spotify_info(session, {track: None}, fetched_at=WHEN)
    later = WHEN + timedelta(days=8)
    await store_spotify_info(
        session, {track: info(track, name="Halo (Remastered)")}, fetched_at=later
    )

    entry = (await cached_spotify_info(session, [track]))[track]

    assert await rows(session) == 1
    assert entry is not None
    assert entry.info is not None
    assert entry.info.name == "Halo (Remastered)"
    assert entry.fetched_at == later


async def test_ids_outside_the_catalog_are_neither_stored_nor_returned(
    session: AsyncSession, tracks: list[str]
):
    stranger = track_id(999)
    written = await store_spotify_info(session, {stranger: info(stranger), tracks[0]: None})

    assert written == 1
    assert await rows(session) == 1
    assert set(await cached_spotify_info(session, [stranger, tracks[0]])) == {tracks[0]}
    assert await store_spotify_info(session, {stranger: None}) == 0


async def test_oversized_values_are_cut_to_fit_their_columns(
    session: AsyncSession, tracks: list[str]
):
    track = tracks[0]
    huge = info(
        track,
        name="N" * 1000,
        album="A" * 1000,
        artists=tuple(f"Artist number {n}" for n in range(200)),
        album_art_url="https://i.scdn.co/" + "x" * 2000,
    )
    await store_spotify_info(session, {track: huge})

    entry = (await cached_spotify_info(session, [track]))[track]

    assert entry is not None
    assert entry.info is not None
    assert len(entry.info.name) == MAX_NAME
    assert entry.info.name.endswith("…")
    assert entry.info.album is not None
    assert len(entry.info.album) == MAX_NAME
    assert entry.info.artists[:2] == ("Artist number 0", "Artist number 1")  # whole names
    assert len(json.dumps(list(entry.info.artists), ensure_ascii=False)) <= MAX_ARTIST_NAMES
    assert entry.info.album_art_url is None  # a cut URL would be a broken one
    assert entry.info.track_url == f"https://open.spotify.com/track/{track}"


async def test_a_naive_fetch_time_is_refused(session: AsyncSession, tracks: list[str]):
    with pytest.raises(ValueError, match="naive"):
        await store_spotify_info(session, {tracks[0]: None}, fetched_at=datetime(2026, 1, 1))


async def test_the_url_falls_back_to_the_track_page(tracks: list[str]):
    assert info(tracks[0], track_url=None).url == f"https://open.spotify.com/track/{tracks[0]}"

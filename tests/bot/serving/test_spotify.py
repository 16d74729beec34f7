"""Spotify enrichment against a local fake Spotify: art and names, the cache, rate limits,
and failures that never reach the caller (nor leak the secret into the log)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.serving.spotify import SpotifyEnricher, SpotifyInfo
from bot.settings import load_settings
from storage.database import Database
from storage.models import SpotifyTrackInfo, Track, utcnow
from storage.repositories.spotify import store_spotify_info
from tests.bot.world import TRACKS
from tests.factories import track_id
from tests.fakes.spotify_server import FakeSpotify

HALO = track_id(0)
CRAZY = track_id(1)
UNKNOWN_TO_SPOTIFY = track_id(7)  # in the catalog, but the fake Spotify does not know it


class Clock:
    """A monotonic clock the test moves by hand, so back-off needs no real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def catalog_track(number: int, name: str, artist: str) -> Track:
    return Track(
        id=track_id(number),
        name=name,
        artist_names=json.dumps([artist]),
        danceability=0.5,
        energy=0.5,
        key=1,
        loudness=-6.0,
        mode=1,
        speechiness=0.05,
        acousticness=0.1,
        instrumentalness=0.0,
        liveness=0.1,
        valence=0.5,
        tempo=120.0,
    )


@pytest.fixture(autouse=True)
def no_local_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET", "SPOTIFY_API_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


@pytest.fixture
async def catalog(database: Database) -> Database:
    """The nine tracks of tests/bot/world.py."""
    async with database.sessions() as session, session.begin():
        session.add_all(catalog_track(number, name, artist) for number, name, artist, *_ in TRACKS)
    return database


@pytest.fixture
def spotify() -> Iterator[FakeSpotify]:
    """A fake Spotify knowing every catalog track but the Garage Demo."""
    with FakeSpotify() as fake:
        for number, name, artist, *_ in TRACKS:
            if track_id(number) != UNKNOWN_TO_SPOTIFY:
                fake.add_track(track_id(number), f"{name} (Spotify)", [artist, "Guest"])
        yield fake


def enricher(
    database: Database, fake: FakeSpotify, timeout: float = 2.0, **overrides: object
) -> SpotifyEnricher:
    settings = load_settings(**{**fake.settings(timeout), **overrides})
    return SpotifyEnricher.from_settings(settings, database.sessions, clock=Clock())


async def test_enrichment_fills_art_and_names_and_caches_them(
    catalog: Database, spotify: FakeSpotify
):
    halo = await enricher(catalog, spotify).lookup(HALO)

    assert halo == SpotifyInfo(
        track_id=HALO,
        name="Halo (Spotify)",
        artists=("Beyoncé", "Guest"),
        album="An Album",
        album_art_url=f"https://i.scdn.co/image/{HALO}-300",  # big enough for a card
        track_url=f"https://open.spotify.com/track/{HALO}",
    )
    assert (spotify.token_requests, spotify.track_requests) == (1, 1)
    async with catalog.sessions() as session:
        row = await session.scalar(
            select(SpotifyTrackInfo).where(SpotifyTrackInfo.track_id == HALO)
        )
    assert row is not None
    assert (row.found, row.name, row.album_art_url) == (True, "Halo (Spotify)", halo.album_art_url)


async def test_a_second_lookup_is_served_from_the_cache(catalog: Database, spotify: FakeSpotify):
    first = await enricher(catalog, spotify).lookup(HALO)
    requests_before = spotify.request_count

    # A new enricher (a restarted bot) has nothing in memory: the database answers.
    again = await enricher(catalog, spotify).lookup(HALO)

    assert again == first
    assert spotify.request_count == requests_before


async def test_a_track_spotify_does_not_know_is_remembered_as_such(
    catalog: Database, spotify: FakeSpotify
):
    spotify_enricher = enricher(catalog, spotify)

    assert await spotify_enricher.lookup(UNKNOWN_TO_SPOTIFY) is None
    assert await spotify_enricher.lookup(UNKNOWN_TO_SPOTIFY) is None
    assert spotify.track_requests == 1


async def test_many_tracks_are_asked_for_in_batches_of_fifty(database: Database):
    numbers = range(100, 160)
    async with database.sessions() as session, session.begin():
        session.add_all(catalog_track(number, f"Song {number}", "Band") for number in numbers)
    with FakeSpotify() as fake:
        for number in numbers[:-1]:  # Spotify does not know the last one
            fake.add_track(track_id(number), f"Song {number}", ["Band"])
        spotify_enricher = enricher(database, fake)
        outside_catalog = track_id(999)
        ids = [track_id(number) for number in numbers] + [outside_catalog, "not-an-id"]

        found = await spotify_enricher.lookup_many(ids)
        again = await spotify_enricher.lookup_many(ids)

    assert set(found) == {track_id(number) for number in numbers[:-1]}
    assert again == found
    assert [len(batch) for batch in fake.requested_ids] == [50, 10]
    assert outside_catalog not in {i for batch in fake.requested_ids for i in batch}


async def test_concurrent_cards_share_one_request(catalog: Database, spotify: FakeSpotify):
    spotify_enricher = enricher(catalog, spotify)

    answers = await asyncio.gather(*(spotify_enricher.lookup(HALO) for _ in range(5)))

    assert all(answer is not None and answer.name == "Halo (Spotify)" for answer in answers)
    assert spotify.track_requests == 1


async def test_old_entries_are_asked_for_again(catalog: Database, spotify: FakeSpotify):
    now = utcnow()
    stale_found = SpotifyInfo(
        track_id=HALO,
        name="Old name",
        artists=("Beyoncé",),
        album=None,
        album_art_url=None,
        track_url=None,
    )
    async with catalog.sessions() as session, session.begin():
        await store_spotify_info(session, {HALO: stale_found}, fetched_at=now - timedelta(days=31))
        await store_spotify_info(session, {CRAZY: None}, fetched_at=now - timedelta(days=8))
        await store_spotify_info(session, {track_id(2): None}, fetched_at=now - timedelta(days=1))

    found = await enricher(catalog, spotify).lookup_many([HALO, CRAZY, track_id(2)])

    assert {key: info.name for key, info in found.items()} == {
        HALO: "Halo (Spotify)",
        CRAZY: "Crazy in Love (Spotify)",  # not found a week ago, known now
    }
    assert sorted(spotify.requested_ids[0]) == sorted([HALO, CRAZY])  # not the fresh "no"


async def test_a_short_retry_after_is_waited_out(catalog: Database, spotify: FakeSpotify):
    spotify.rate_limit("0.05", times=1)

    halo = await enricher(catalog, spotify).lookup(HALO)

    assert halo is not None
    assert spotify.track_requests == 2


async def test_a_long_retry_after_backs_off_until_it_has_passed(
    catalog: Database, spotify: FakeSpotify, caplog: pytest.LogCaptureFixture
):
    clock = Clock()
    settings = load_settings(**spotify.settings())
    spotify_enricher = SpotifyEnricher.from_settings(settings, catalog.sessions, clock=clock)
    spotify.rate_limit("30", times=1)

    assert await spotify_enricher.lookup(HALO) is None
    assert "rate limited" in caplog.text
    assert "30 s" in caplog.text

    clock.now += 29  # still inside Retry-After: Spotify is not asked
    assert await spotify_enricher.lookup(HALO) is None
    assert spotify.track_requests == 1

    clock.now += 2
    halo = await spotify_enricher.lookup(HALO)
    assert halo is not None
    assert spotify.track_requests == 2


def refuse_connections(fake: FakeSpotify) -> dict[str, object]:
    fake.stop()
    return {}


def answer_500(fake: FakeSpotify) -> dict[str, object]:
    fake.fail(500)
    return {}


def hang(fake: FakeSpotify) -> dict[str, object]:
    fake.delay = 5.0
    return {"SPOTIFY_TIMEOUT": 0.2}


def break_the_token_endpoint(fake: FakeSpotify) -> dict[str, object]:
    fake.fail(503, endpoint="token")
    return {}


def reject_the_secret(fake: FakeSpotify) -> dict[str, object]:
    fake.client_secret = "the-right-secret-lives-on-the-server"
    return {}


@pytest.mark.parametrize(
    ("break_spotify", "reason"),
    [
        (answer_500, "HTTP 500"),
        (hang, "no answer within 0.2 s"),
        (refuse_connections, "cannot connect"),
        (break_the_token_endpoint, "token request failed: HTTP 503"),
        (reject_the_secret, "token request refused: invalid_client"),
    ],
)
async def test_failures_return_nothing_and_warn_once_without_the_secret(
    catalog: Database,
    spotify: FakeSpotify,
    caplog: pytest.LogCaptureFixture,
    break_spotify: Callable[[FakeSpotify], dict[str, object]],
    reason: str,
):
    caplog.set_level(logging.DEBUG)  # spotipy's debug lines would show the Basic header
    secret = spotify.client_secret
    basic = base64.b64encode(f"{spotify.client_id}:{secret}".encode()).decode()
    settings = load_settings(**{**spotify.settings(), **break_spotify(spotify)})
    spotify_enricher = SpotifyEnricher.from_settings(settings, catalog.sessions)

    assert await spotify_enricher.lookup(HALO) is None
    assert await spotify_enricher.lookup_many([HALO, CRAZY]) == {}  # backing off: no 2nd try

    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [record.getMessage() for record in warnings] == [
        f"Spotify is unavailable ({reason}); cards show without album art for the next 60 s"
    ]
    assert secret not in caplog.text
    assert basic not in caplog.text


async def test_cached_art_still_shows_while_spotify_is_down(
    catalog: Database, spotify: FakeSpotify
):
    spotify_enricher = enricher(catalog, spotify)
    halo = await spotify_enricher.lookup(HALO)
    spotify.fail(500)

    found = await spotify_enricher.lookup_many([HALO, CRAZY])

    assert found == {HALO: halo}


async def test_without_credentials_the_enricher_is_disabled(
    catalog: Database, spotify: FakeSpotify, caplog: pytest.LogCaptureFixture
):
    settings = load_settings(SPOTIFY_API_URL=spotify.api_url, SPOTIFY_AUTH_URL=spotify.auth_url)
    spotify_enricher = SpotifyEnricher.from_settings(settings, catalog.sessions)

    assert settings.spotify_enabled is False
    assert spotify_enricher.enabled is False
    assert await spotify_enricher.lookup(HALO) is None
    assert await spotify_enricher.lookup_many([HALO, CRAZY]) == {}
    assert spotify.request_count == 0
    assert not caplog.records

"""Catalog search: accents, case, prefixes, ranking, sync with the tracks table, any input."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text, update

from storage.database import Database
from storage.models import Track
from storage.repositories.tracks import fts_match_expression, search_tracks, spotify_track_id
from tests.factories import import_tracks, track_id

CATALOG = [
    ("Halo", "Beyoncé", "pop", "90"),
    ("Halo - Live", "Beyoncé", "pop", "40"),
    ("Crazy In Love", "Beyoncé;JAY-Z", "pop", "85"),
    ("Blinding Lights", "The Weeknd", "synth-pop", "95"),
    ("Blinding Lights - Cover", "Nobody Famous", "synth-pop", "5"),
    ("Señorita", "Shawn Mendes;Camila Cabello", "latin", "80"),
    ("Björk Song", "Björk", "electronic", "30"),
    ("Don't Stop Me Now", "Queen", "rock", "88"),
    ("東京フラッシュ", "Vaundy", "j-pop", "60"),
]


@pytest.fixture
async def catalog(database: Database, tmp_path: Path) -> Database:
    await import_tracks(database, tmp_path, CATALOG)
    return database


async def _names(database: Database, query: str, limit: int = 10) -> list[str]:
    async with database.sessions() as session:
        return [track.name for track in await search_tracks(session, query, limit)]


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("beyonce halo", "Halo"),
        ("BEYONCÉ crazy", "Crazy In Love"),
        ("senorita", "Señorita"),
        ("bjork", "Björk Song"),
        ("blind", "Blinding Lights"),
        ("bli lig", "Blinding Lights"),
        ("weeknd", "Blinding Lights"),
        ("dont stop", "Don't Stop Me Now"),
        ("don't", "Don't Stop Me Now"),
        ("東京フラッシュ", "東京フラッシュ"),
        ("jay-z", "Crazy In Love"),
    ],
)
async def test_accent_case_and_prefix_insensitive(
    catalog: Database, query: str, expected_first: str
) -> None:
    names = await _names(catalog, query)
    assert names, f"no result for {query!r}"
    assert names[0] == expected_first


async def test_popular_version_ranks_first(catalog: Database) -> None:
    assert await _names(catalog, "blinding lights") == [
        "Blinding Lights",
        "Blinding Lights - Cover",
    ]
    assert (await _names(catalog, "halo"))[0] == "Halo"


async def test_limit_is_honoured(catalog: Database) -> None:
    assert len(await _names(catalog, "beyonce", limit=2)) == 2
    assert await _names(catalog, "beyonce", limit=0) == []


async def test_spotify_url_uri_and_id_find_the_track(catalog: Database) -> None:
    tid = track_id(3)
    for query in (tid, f"spotify:track:{tid}", f"https://open.spotify.com/track/{tid}?si=abc"):
        assert await _names(catalog, query) == ["Blinding Lights"]


async def test_search_follows_updates_and_deletes(catalog: Database) -> None:
    async with catalog.sessions() as session:
        await session.execute(update(Track).where(Track.id == track_id(7)).values(name="Bohemian"))
        await session.execute(delete(Track).where(Track.id == track_id(0)))
        await session.commit()
    assert await _names(catalog, "queen") == ["Bohemian"]  # one index row, not a stale twin
    assert await _names(catalog, "bohemian") == ["Bohemian"]
    assert "Halo" not in await _names(catalog, "halo")


@pytest.mark.sqlite_only("SQLite rowids and VACUUM")
async def test_search_stays_in_sync_after_vacuum(catalog: Database) -> None:
    # VACUUM may renumber rowids of a table with a text primary key; the index must not care.
    async with catalog.engine.connect() as connection:
        await connection.exec_driver_sql("VACUUM")
    async with catalog.sessions() as session:
        await session.execute(update(Track).where(Track.id == track_id(8)).values(name="Renamed"))
        await session.commit()
    assert await _names(catalog, "renamed") == ["Renamed"]
    assert await _names(catalog, "vaundy") == ["Renamed"]  # the old index row is gone


HOSTILE = [
    "",
    "   ",
    '"',
    "'\"",
    "*",
    "-",
    "- -",
    "AND",
    "OR NOT",
    "NEAR(",
    "NEAR(halo beyonce, 2)",
    "halo)",
    "((((",
    "name:halo",
    "{name}: halo",
    "^halo",
    "🎵🔥",
    "halo 🎵",
    "x" * 5000,
    "halo " * 1000,
    "\x00\x01",
    "%_%",
    "'; DROP TABLE tracks; --",
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_any_text_is_safe(catalog: Database, query: str) -> None:
    names = await _names(catalog, query)
    assert isinstance(names, list)
    assert len(await _names(catalog, "halo")) == 2  # and the catalog is still there


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_match_expression_is_always_balanced(text: str) -> None:
    expression = fts_match_expression(text)
    if expression is None:
        return
    body = expression.split(" : ", 1)[1]
    assert body.startswith("(")
    assert body.endswith(")")
    # Every phrase is quoted and holds no quote of its own.
    assert body.count('"') % 2 == 0


async def test_random_text_never_raises(catalog: Database) -> None:
    rng = random.Random(7)
    alphabet = "abcé ÉßØ\"'*-:^(){}[]+.,;!?&|~%_\\/0123456789 東京🎵\u0301\u200b\t\n"
    async with catalog.sessions() as session:
        for _ in range(300):
            query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
            await search_tracks(session, query, 5)


def test_spotify_track_id_parsing() -> None:
    tid = "4uLU6hMCjMI75M1A2tKUQC"
    assert spotify_track_id(tid) == tid
    assert spotify_track_id(f"https://open.spotify.com/intl-de/track/{tid}?si=x") == tid
    assert spotify_track_id(f"spotify:track:{tid}") == tid
    assert spotify_track_id("https://open.spotify.com/album/4uLU6hMCjMI75M1A2tKUQC") is None
    assert spotify_track_id("halo") is None


@pytest.mark.sqlite_only(
    "the FTS5 sync switch; test_postgres_search.py checks PostgreSQL's bulk refill"
)
async def test_bulk_import_refills_the_index_and_resumes_the_triggers(
    database: Database, tmp_path: Path
) -> None:
    # Enough rows for the one-pass refill; "the" matches every one of them.
    songs = [(f"The Song {i}", f"Band {i}", "pop", str(i % 101)) for i in range(3_000)]
    await import_tracks(database, tmp_path, songs)

    async with database.sessions() as session:
        results = await search_tracks(session, "the", 10)
        assert [track.popularity for track in results] == [100] * 10
        assert len(await search_tracks(session, "song 2999", 10)) == 1
        paused = (await session.execute(text("SELECT paused FROM track_search_sync"))).scalar()
        assert paused == 0
        # Triggers are live again: a single edit shows up at once.
        await session.execute(update(Track).where(Track.id == track_id(5)).values(name="Solo"))
        await session.commit()
        assert [t.name for t in await search_tracks(session, "solo", 10)] == ["Solo"]


async def test_a_one_letter_last_word_is_a_prefix(catalog: Database) -> None:
    assert await _names(catalog, "blinding l") == ["Blinding Lights", "Blinding Lights - Cover"]


async def test_track_details_carry_genres_and_card_features(catalog: Database) -> None:
    from storage.dto import CARD_FEATURES
    from storage.repositories.tracks import track_details

    async with catalog.sessions() as session:
        details = await track_details(session, [track_id(3), "0" * 22, track_id(2), track_id(3)])
    assert [d.id for d in details] == [track_id(3), track_id(2)]  # order kept, unknown left out
    lights, crazy = details
    assert lights.genres == ("synth-pop",)
    assert crazy.artists == ("Beyoncé", "JAY-Z")
    assert set(lights.features) == set(CARD_FEATURES)
    assert all(0.0 <= value <= 1.0 for value in lights.features.values())
    assert lights.player_url == f"https://open.spotify.com/embed/track/{track_id(3)}"
    async with catalog.sessions() as session:
        assert await track_details(session, []) == []

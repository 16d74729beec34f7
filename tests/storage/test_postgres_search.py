"""Catalog search on PostgreSQL (migration 0003): the tsvector index, its bulk refill, its
query text; and folding and ranking cases that must come out the same on both databases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text, update

from storage.database import Database
from storage.models import Track
from storage.repositories.tracks import search_tracks, tsquery_expression
from tests.factories import import_tracks, track_id

postgres_only = pytest.mark.postgres_only("PostgreSQL's text search")

CATALOG = [
    ("Thunderstruck", "AC/DC", "rock", "70"),
    ("Don\u2019t Start Now", "Dua Lipa", "pop", "80"),
    ("Queen of Hearts", "Someone Else", "pop", "30"),
    ("Radio Ga Ga", "Queen", "rock", "30"),
    ("Mañana", "Queen_Of_Underscores", "latin", "10"),
]


@pytest.fixture
async def catalog(database: Database, tmp_path: Path) -> Database:
    await import_tracks(database, tmp_path, CATALOG)
    return database


async def _names(database: Database, query: str) -> list[str]:
    async with database.sessions() as session:
        return [track.name for track in await search_tracks(session, query, 10)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ac dc", ["Thunderstruck"]),  # PostgreSQL's parser alone would keep "ac/dc" whole
        ("dont start", ["Don\u2019t Start Now"]),  # a typographic apostrophe folds too
        ("manana", ["Mañana"]),
        ("underscores", ["Mañana"]),  # underscores split words, as in FTS5
    ],
)
async def test_folding_is_the_same_on_both_databases(
    catalog: Database, query: str, expected: list[str]
) -> None:
    assert await _names(catalog, query) == expected


async def test_a_name_match_outranks_an_artist_match_of_equal_popularity(
    catalog: Database,
) -> None:
    assert (await _names(catalog, "queen"))[:2] == ["Queen of Hearts", "Radio Ga Ga"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_tsquery_text_holds_only_quoted_words(query: str) -> None:
    expression = tsquery_expression(query)
    if expression is None:
        return
    term = r"'[^\W_]+'(?::\*)?"
    assert re.fullmatch(rf"{term}(?: & {term})*", expression), expression


def test_tsquery_prefixes_like_the_fts5_expression() -> None:
    assert tsquery_expression("tayl swi") == "'tayl':* & 'swi':*"
    assert tsquery_expression("the dark side of the moon") == (
        "'the' & 'dark' & 'side' & 'of' & 'moon':*"
    )
    assert tsquery_expression("'; DROP TABLE tracks; --") == ("'drop':* & 'table':* & 'tracks':*")
    assert tsquery_expression("🎵 ...") is None


@postgres_only
async def test_bulk_import_refills_the_index_and_resumes_the_trigger(
    database: Database, tmp_path: Path
) -> None:
    songs = [(f"The Song {i}", f"Band {i}", "pop", str(i % 101)) for i in range(3_000)]
    await import_tracks(database, tmp_path, songs)

    async with database.sessions() as session:
        results = await search_tracks(session, "the", 10)
        assert [track.popularity for track in results] == [100] * 10
        assert len(await search_tracks(session, "song 2999", 10)) == 1
        indexed = await session.scalar(text("SELECT count(*) FROM track_search"))
        assert indexed == 3_000
        # The pause lasted only the import's transaction: a single edit shows up at once.
        await session.execute(update(Track).where(Track.id == track_id(5)).values(name="Solo"))
        await session.commit()
        assert [t.name for t in await search_tracks(session, "solo", 10)] == ["Solo"]


@postgres_only
async def test_matches_come_from_the_gin_index(catalog: Database) -> None:
    async with catalog.engine.connect() as connection:
        await connection.execute(text("SET enable_seqscan = off"))
        await connection.execute(text("SET enable_indexscan = off"))
        plan = "\n".join(
            row[0]
            for row in await connection.execute(
                text(
                    "EXPLAIN SELECT track_id FROM track_search "
                    "WHERE document @@ to_tsquery('earworm_search', 'thunder:*')"
                )
            )
        )
    assert "ix_track_search_document" in plan


@postgres_only
async def test_deleting_or_renaming_a_track_follows_into_the_index(catalog: Database) -> None:
    async with catalog.sessions() as session:
        await session.execute(update(Track).where(Track.id == track_id(0)).values(name="Renamed"))
        await session.execute(Track.__table__.delete().where(Track.id == track_id(1)))
        await session.commit()
        ids = (await session.execute(text("SELECT track_id FROM track_search"))).scalars().all()
    assert sorted(ids) == [track_id(0), track_id(2), track_id(3), track_id(4)]
    assert await _names(catalog, "renamed") == ["Renamed"]
    assert await _names(catalog, "thunderstruck") == ["Renamed"]  # the album: one row


async def test_ids_with_a_nul_find_nothing_instead_of_failing(catalog: Database) -> None:
    # PostgreSQL refuses text holding a NUL; SQLite would just find nothing. Same answer.
    from storage.repositories.tracks import get_tracks, track_details

    async with catalog.sessions() as session:
        assert await get_tracks(session, ["\x00", track_id(0)]) == await get_tracks(
            session, [track_id(0)]
        )
        assert await track_details(session, ["a\x00b"]) == []
        assert await search_tracks(session, "\x00halo\x00") == []
